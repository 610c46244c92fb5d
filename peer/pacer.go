package peer

// pacer.go: the packet pacer of one PeerConnection, under gcc.
//
// gcc's own LeakyBucketPacer knows only the SSRCs added to it and drops
// anything else, which includes every RTX retransmission; it also sends a
// burst after an idle spell. This pacer:
//   - sends at 1.5 x the target (libwebrtc paces at 2.5 x; measured here, 2.5 x
//     froze more behind a 500 kbit/s tbf bottleneck), in 5 ms
//     steps, with at most 20 ms of budget saved up (no bursts after idle);
//     its step timer runs only while packets wait (no wake-ups when idle);
//   - sends audio first (audio is protected first), then retransmissions
//     (a receiver is waiting for them), then video, as libwebrtc's pacer;
//   - writes an RTX packet through the writer of its media stream (the
//     writer under the pacer writes whatever SSRC the header names);
//   - never lets its queue hold more than maxQueue of data at the current
//     rate: it then sends faster, so the queue drains rather than grows (a
//     standing queue is delay the estimator would not see);
//   - numbers the packets' transport-wide sequence (TWCC) as it sends
//     them, so the numbers go out in order, as libwebrtc's pacer does,
//     and records which media packet each number carried, its size and
//     when it left (sendLog, for resending from TWCC feedback:
//     twccresend.go, and for the estimator's one-way delay).
//     The TWCC interceptor above numbers them as they are queued; audio
//     and retransmissions then overtook queued video, the receiver's
//     feedback reported the overtaken packets missing (a later feedback
//     does not take them back), and gcc read that as loss: a keyframe
//     queued behind a slow pacer showed as 5–60 % loss on a loopback
//     link, cutting the target to its floor.
//
// The goroutine is owned by the pacer; Close stops it and waits.

import (
	"container/list"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
)

const (
	pacingFactor   = 1.5
	pacingStep     = 5 * time.Millisecond
	pacingMaxSaved = 20 * time.Millisecond
	maxQueue       = 500 * time.Millisecond
)

// streamKinds tells the pacer about SSRCs it was not given: RTX streams
// (their media SSRC) and which streams are audio; and the header
// extension ID of the transport-wide sequence number (0: none).
type streamKinds interface {
	mediaOf(ssrc uint32) (media uint32, audio bool)
	twccExt(ssrc uint32) uint8
}

type pacedPacket struct {
	h     rtp.Header
	pl    []byte
	attr  interceptor.Attributes
	twcc  uint8  // the TWCC extension's ID, 0 if none
	media uint32 // the media SSRC it belongs to (0: unknown)
	audio bool
}

type pacer struct {
	kinds streamKinds
	// external: the rate comes from setRate only (the estimator), not
	// from gcc's SetTargetBitrate. Set before use.
	external bool

	mu      sync.Mutex
	rate    int // bits/s, already with pacingFactor
	writers map[uint32]interceptor.RTPWriter
	audio   *list.List
	rtx     *list.List
	video   *list.List
	queued  int // bytes in rtx and video
	closed  bool

	twseq uint16 // the next transport-wide sequence number; owned by run
	// sent: what each transport-wide sequence number carried, for
	// resending from TWCC feedback (twccresend.go).
	sent sendLog

	rounds atomic.Int64 // sending rounds run (tests: an idle pacer sleeps)

	wake chan struct{}
	stop chan struct{}
	done chan struct{}
}

func newPacer(initial int, kinds streamKinds) *pacer {
	p := &pacer{
		kinds: kinds, rate: int(pacingFactor * float64(initial)),
		writers: map[uint32]interceptor.RTPWriter{},
		audio:   list.New(), rtx: list.New(), video: list.New(),
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go p.run()
	return p
}

// AddStream implements gcc.Pacer.
func (p *pacer) AddStream(ssrc uint32, w interceptor.RTPWriter) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.writers[ssrc] = w
}

// SetTargetBitrate implements gcc.Pacer.
func (p *pacer) SetTargetBitrate(bps int) {
	if !p.external {
		p.setRate(bps)
	}
}

// setRate sets the target the pacer sends at pacingFactor times.
func (p *pacer) setRate(bps int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rate = int(pacingFactor * float64(bps))
}

// backlog returns the bytes of video and retransmissions waiting, and how
// long they take at the pacing rate (the debug log).
func (p *pacer) backlog() (int, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rate <= 0 {
		return p.queued, 0
	}
	return p.queued, time.Duration(float64(p.queued*8) / float64(p.rate) * float64(time.Second))
}

// Write implements gcc.Pacer: it queues the packet.
func (p *pacer) Write(h *rtp.Header, payload []byte, attr interceptor.Attributes) (int, error) {
	pkt := &pacedPacket{h: h.Clone(), pl: append([]byte(nil), payload...)}
	if len(attr) > 0 {
		pkt.attr = make(interceptor.Attributes, len(attr))
		for k, v := range attr {
			pkt.attr[k] = v
		}
	}
	media, audio := p.kinds.mediaOf(h.SSRC)
	pkt.twcc, pkt.media, pkt.audio = p.kinds.twccExt(h.SSRC), media, audio
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return 0, io.ErrClosedPipe
	}
	switch {
	case audio:
		p.audio.PushBack(pkt)
	case media != 0 && media != h.SSRC:
		p.rtx.PushBack(pkt)
		p.queued += len(payload)
	default:
		p.video.PushBack(pkt)
		p.queued += len(payload)
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return h.MarshalSize() + len(payload), nil
}

func (p *pacer) run() {
	defer close(p.done)
	// The step timer runs only while packets wait for budget: an idle
	// pacer (a receive-only peer, a sender between frames) does not
	// wake every step. Audio goes out on the wake of its Write.
	step := time.NewTimer(pacingStep)
	step.Stop()
	defer step.Stop()
	stepping := false
	budget := 0 // bytes
	last := time.Now()
	for {
		var tick <-chan time.Time
		if stepping {
			tick = step.C
		}
		select {
		case <-p.stop:
			return
		case <-tick:
			stepping = false
		case <-p.wake:
		}
		p.rounds.Add(1)
		now := time.Now()
		p.mu.Lock()
		rate := p.rate
		if drain := p.queued * 8 * int(time.Second/maxQueue); drain > rate {
			rate = drain
		}
		budget += int(float64(now.Sub(last)) / float64(time.Second) * float64(rate) / 8)
		budget = min(budget, int(float64(pacingMaxSaved)/float64(time.Second)*float64(rate)/8)+1500)
		last = now
		var out []*pacedPacket
		for p.audio.Len() > 0 { // audio is never held back
			out = append(out, p.audio.Remove(p.audio.Front()).(*pacedPacket))
		}
		for _, q := range []*list.List{p.rtx, p.video} {
			for q.Len() > 0 && budget > 0 {
				pkt := q.Remove(q.Front()).(*pacedPacket)
				budget -= len(pkt.pl) + pkt.h.MarshalSize()
				p.queued -= len(pkt.pl)
				out = append(out, pkt)
			}
		}
		waiting := p.rtx.Len()+p.video.Len() > 0
		p.mu.Unlock()
		for _, pkt := range out {
			p.send(pkt)
		}
		if waiting && !stepping {
			step.Reset(pacingStep)
			stepping = true
		}
	}
}

// send writes pkt, numbered in the order of sending (run's goroutine).
func (p *pacer) send(pkt *pacedPacket) {
	p.mu.Lock()
	w := p.writers[pkt.h.SSRC]
	if w == nil {
		if media, _ := p.kinds.mediaOf(pkt.h.SSRC); media != 0 {
			w = p.writers[media]
		}
	}
	p.mu.Unlock()
	if w == nil {
		return
	}
	if pkt.twcc != 0 && pkt.h.GetExtension(pkt.twcc) != nil {
		b, err := (&rtp.TransportCCExtension{TransportSequence: p.twseq}).Marshal()
		if err == nil && pkt.h.SetExtension(pkt.twcc, b) == nil {
			if media, seq, ok := carried(pkt.h.SSRC, pkt.media, pkt.h.SequenceNumber, pkt.pl); ok {
				class := classVideo
				switch {
				case pkt.audio:
					class = classAudio
				case pkt.media != 0 && pkt.media != pkt.h.SSRC:
					class = classRTX
				}
				p.sent.recordClass(p.twseq, media, seq, pkt.h.MarshalSize()+len(pkt.pl), time.Now(), class)
			}
			p.twseq++
		}
	}
	_, _ = w.Write(&pkt.h, pkt.pl, pkt.attr)
}

// Close implements gcc.Pacer.
func (p *pacer) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.audio.Init()
	p.rtx.Init()
	p.video.Init()
	p.mu.Unlock()
	close(p.stop)
	<-p.done
	return nil
}
