package whip

// Two interceptor variants that cost the forwarding server less than
// pion's, for the same RTCP on the wire:
//
//   - twccFeedback records each incoming packet's transport-wide sequence
//     number on the reading goroutine, under a mutex, where pion's TWCC
//     sender interceptor hands every packet to its own goroutine through
//     an unbuffered channel (a goroutine switch, often a thread wake-up,
//     per received packet). The feedback (twcc.Recorder, pion's) is the
//     same, and sent from the reading goroutine too: with the first packet
//     recorded twccInterval or more after the previous feedback, so a
//     publisher that sends gets feedback every 100 ms (plus at most one
//     packet interval) without a ticker waking the server ten times a
//     second. A timer covers the packets before a pause: it fires
//     2×twccInterval after the last feedback unless a packet came first,
//     sends what is left, and is armed again by the next feedback.
//   - onFirstStream delays an interceptor's BindRTCPWriter until the
//     PeerConnection's first remote stream: pion's NACK generator starts
//     a 100 ms ticker per PeerConnection at once, also on the room side of
//     a WHIP session, whose connections to the receivers receive nothing.
//     Only for interceptors whose BindRTCPWriter returns the writer
//     unchanged (the NACK generator).

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
)

const twccInterval = 100 * time.Millisecond

type twccFactory struct{}

func (twccFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &twccFeedback{start: time.Now()}, nil
}

type twccFeedback struct {
	interceptor.NoOp
	start time.Time

	mu      sync.Mutex
	writer  interceptor.RTCPWriter
	rec     *twcc.Recorder // nil before the first packet with the extension
	next    time.Time      // the earliest time for the next inline feedback
	pending bool           // packets recorded since the last feedback
	pause   *time.Timer    // the feedback after a pause; nil before the first packet
	closing bool
}

func (t *twccFeedback) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	t.mu.Lock()
	t.writer = w
	t.mu.Unlock()
	return w
}

func (t *twccFeedback) BindRemoteStream(info *interceptor.StreamInfo, reader interceptor.RTPReader) interceptor.RTPReader {
	var id uint8
	for _, e := range info.RTPHeaderExtensions {
		if e.URI == sdp.TransportCCURI {
			id = uint8(e.ID)
			break
		}
	}
	if id == 0 {
		return reader
	}
	ssrc := info.SSRC
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, a, err := reader.Read(b, a)
		if err != nil {
			return n, a, err
		}
		if a == nil {
			a = make(interceptor.Attributes)
		}
		h, err := a.GetRTPHeader(b[:n])
		if err != nil {
			return n, a, nil // not ours to refuse; the track reader will
		}
		if ext := h.GetExtension(id); ext != nil {
			var tcc rtp.TransportCCExtension
			if tcc.Unmarshal(ext) == nil {
				t.record(ssrc, tcc.TransportSequence)
			}
		}
		return n, a, nil
	})
}

// record adds one packet and sends the feedback when it is due.
func (t *twccFeedback) record(ssrc uint32, seq uint16) {
	now := time.Now()
	t.mu.Lock()
	if t.closing {
		t.mu.Unlock()
		return
	}
	if t.rec == nil {
		t.rec = twcc.NewRecorder(rand.Uint32())
		t.next = now.Add(twccInterval)
		t.pause = time.AfterFunc(2*twccInterval, t.flush)
	}
	t.rec.Record(ssrc, seq, now.Sub(t.start).Microseconds())
	t.pending = true
	if now.Before(t.next) {
		t.mu.Unlock()
		return
	}
	t.send(now) // unlocks
}

// flush sends the feedback left after a pause (the pause timer).
func (t *twccFeedback) flush() {
	t.mu.Lock()
	if t.closing || !t.pending {
		t.mu.Unlock()
		return
	}
	t.send(time.Now()) // unlocks
}

// send builds the feedback, re-arms the pause timer and writes it after
// unlocking mu, which the caller holds.
func (t *twccFeedback) send(now time.Time) {
	pkts := t.rec.BuildFeedbackPacket()
	w := t.writer
	t.pending = false
	t.next = now.Add(twccInterval)
	t.pause.Reset(2 * twccInterval)
	t.mu.Unlock()
	if len(pkts) > 0 && w != nil {
		_, _ = w.Write(pkts, nil)
	}
}

func (t *twccFeedback) Close() error {
	t.mu.Lock()
	t.closing = true
	if t.pause != nil {
		t.pause.Stop() // a flush already running sees closing
	}
	t.mu.Unlock()
	return nil
}

// onFirstStream wraps a factory: see the file comment.
type onFirstStream struct{ f interceptor.Factory }

func (o onFirstStream) NewInterceptor(id string) (interceptor.Interceptor, error) {
	i, err := o.f.NewInterceptor(id)
	if err != nil {
		return nil, err
	}
	return &lazyRTCP{Interceptor: i}, nil
}

type lazyRTCP struct {
	interceptor.Interceptor
	mu    sync.Mutex
	w     interceptor.RTCPWriter
	bound bool
}

func (l *lazyRTCP) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	l.mu.Lock()
	l.w = w
	l.mu.Unlock()
	return w
}

func (l *lazyRTCP) BindRemoteStream(info *interceptor.StreamInfo, r interceptor.RTPReader) interceptor.RTPReader {
	l.mu.Lock()
	if !l.bound && l.w != nil {
		l.bound = true
		l.Interceptor.BindRTCPWriter(l.w)
	}
	l.mu.Unlock()
	return l.Interceptor.BindRemoteStream(info, r)
}
