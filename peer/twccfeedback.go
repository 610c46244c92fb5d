package peer

// TWCC feedback for what a PeerConnection receives, cheaper than pion's
// and able to take each packet's arrival time from elsewhere:
//
//   - Each incoming packet's transport-wide sequence number is recorded on
//     the reading goroutine, under a mutex, where pion's TWCC sender
//     interceptor hands every packet to its own goroutine through an
//     unbuffered channel (a goroutine switch, often a thread wake-up, per
//     received packet). The feedback content is pion's (twcc.Recorder).
//   - The feedback is sent from the reading goroutine too: with the first
//     packet recorded twccInterval or more after the previous feedback,
//     so a sender that sends gets feedback every 100 ms (plus at most one
//     packet interval) without a ticker waking the process ten times a
//     second. A timer covers the packets before a pause: it fires
//     2×twccInterval after the last feedback unless a packet came first,
//     sends what is left, and is armed again by the next feedback.
//   - Arrival times: TWCCFeedbackConfig.Arrival, when set, gives the time
//     a packet reached the host (internal/rxbatch: the kernel's receive
//     time, keyed by SSRC and RTP sequence number), so the sender's
//     congestion control does not see reads that were delayed or
//     coalesced; a packet it does not know, or no Arrival, is stamped with
//     the time the interceptor reads it.
//
// Invariants: one feedback stream per PeerConnection (the recorder's
// media SSRC is random); after Close nothing is recorded or sent and the
// pause timer is stopped; no goroutine besides the pause timer's.

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// twccInterval is how often feedback is sent while packets arrive.
const twccInterval = 100 * time.Millisecond

// TWCCFeedbackConfig configures NewTWCCFeedback.
type TWCCFeedbackConfig struct {
	// Arrival returns when the RTP packet (ssrc, seq) reached the host, if
	// known (e.g. rxbatch.Arrivals.Lookup). Optional.
	Arrival func(ssrc uint32, seq uint16) (time.Time, bool)
}

// NewTWCCFeedback returns the interceptor factory (see the file comment).
// ConfigureTWCCFeedback also registers what the SDP needs.
func NewTWCCFeedback(cfg TWCCFeedbackConfig) interceptor.Factory { return twccFactory{cfg} }

// ConfigureTWCCFeedback is webrtc.ConfigureTWCCSender with this package's
// feedback interceptor: transport-cc feedback and the transport-wide
// sequence number header extension for video and audio on me, the
// interceptor on ir. Register the codecs on me first.
func ConfigureTWCCFeedback(me *webrtc.MediaEngine, ir *interceptor.Registry, cfg TWCCFeedbackConfig) error {
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		me.RegisterFeedback(webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBTransportCC}, kind)
		if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.TransportCCURI}, kind); err != nil {
			return err
		}
	}
	ir.Add(NewTWCCFeedback(cfg))
	return nil
}

type twccFactory struct{ cfg TWCCFeedbackConfig }

func (f twccFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &twccFeedback{start: time.Now(), arrival: f.cfg.Arrival}, nil
}

type twccFeedback struct {
	interceptor.NoOp
	start   time.Time
	arrival func(ssrc uint32, seq uint16) (time.Time, bool)

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
				now := time.Now()
				t.record(ssrc, tcc.TransportSequence, t.arrivedAt(h.SSRC, h.SequenceNumber, now), now)
			}
		}
		return n, a, nil
	})
}

// maxArrivalAge bounds how long ago an Arrival may say a packet arrived
// (an older entry is taken for a stale one: the time of reading is used).
// Arrivals before the interceptor started count as at its start.
const maxArrivalAge = time.Second

// arrivedAt is when packet (ssrc, seq) reached the host, on now's
// monotonic clock: now minus the packet's age on the wall clock, which
// is what Arrival reports (a wall-clock step moves only the packets
// read across it).
func (t *twccFeedback) arrivedAt(ssrc uint32, seq uint16, now time.Time) time.Time {
	if t.arrival == nil {
		return now
	}
	when, ok := t.arrival(ssrc, seq)
	if !ok {
		return now
	}
	if age := now.Round(0).Sub(when); age > 0 && age <= maxArrivalAge {
		if at := now.Add(-age); at.After(t.start) {
			return at
		}
		return t.start
	}
	return now
}

// record adds one packet that arrived at `at` and sends the feedback when
// it is due.
func (t *twccFeedback) record(ssrc uint32, seq uint16, at, now time.Time) {
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
	t.rec.Record(ssrc, seq, at.Sub(t.start).Microseconds())
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
