package peer

// twccFeedback is the receive side of transport-wide congestion control:
// it notes the arrival time of every received packet that carries a
// transport-wide sequence number and sends TWCC feedback (RTCP) every
// 100 ms, from which the sender's estimator learns the path. It does what
// pion's twcc.SenderInterceptor does, and pion's twcc.Recorder builds the
// reports, but it records on the goroutine that reads the packet, under a
// mutex, instead of handing every packet over an unbuffered channel to its
// feedback goroutine: that hand-off woke a goroutine (often a thread) per
// received packet, ≈ 200 a second for a viewer of two peers
// (BENCHMARKS.md, "CPU of showing two remote peers").
//
// Invariants:
//   - One per PeerConnection. Its feedback goroutine starts in
//     BindRTCPWriter, ticks only once a packet has been recorded (a
//     connection that receives nothing costs no wake-ups), and ends in
//     Close, which waits for it.
//   - The recorder is touched only under mu.

import (
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// twccInterval is how often feedback is sent (pion's and libwebrtc's 100 ms).
const twccInterval = 100 * time.Millisecond

type twccFeedbackFactory struct {
	log *slog.Logger
}

func (f twccFeedbackFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &twccFeedback{
		log:     f.log,
		start:   time.Now(),
		started: make(chan struct{}),
		stop:    make(chan struct{}),
	}, nil
}

type twccFeedback struct {
	interceptor.NoOp
	log   *slog.Logger
	start time.Time // arrival times are microseconds since start

	mu     sync.Mutex
	rec    *twcc.Recorder // nil before BindRTCPWriter
	closed bool

	first   atomic.Bool   // a packet was recorded
	started chan struct{} // closed with the first recorded packet
	stop    chan struct{}
	wg      sync.WaitGroup
}

func (t *twccFeedback) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || t.rec != nil {
		return w
	}
	t.rec = twcc.NewRecorder(rand.Uint32())
	t.wg.Add(1)
	go t.loop(w)
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
	if id == 0 { // the stream carries no transport-wide sequence numbers
		return reader
	}
	ssrc := info.SSRC
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, a, err := reader.Read(b, a)
		if err != nil {
			return 0, nil, err
		}
		if a == nil {
			a = make(interceptor.Attributes)
		}
		h, err := a.GetRTPHeader(b[:n])
		if err != nil {
			return 0, nil, err
		}
		if ext := h.GetExtension(id); ext != nil {
			var tcc rtp.TransportCCExtension
			if err := tcc.Unmarshal(ext); err != nil {
				return 0, nil, err
			}
			t.record(ssrc, tcc.TransportSequence, time.Since(t.start).Microseconds())
		}
		return n, a, nil
	})
}

func (t *twccFeedback) record(ssrc uint32, seq uint16, arrivalUS int64) {
	t.mu.Lock()
	if t.rec != nil {
		t.rec.Record(ssrc, seq, arrivalUS)
	}
	t.mu.Unlock()
	if !t.first.Load() && t.first.CompareAndSwap(false, true) {
		close(t.started)
	}
}

// loop sends the feedback every twccInterval once packets arrive.
func (t *twccFeedback) loop(w interceptor.RTCPWriter) {
	defer t.wg.Done()
	select {
	case <-t.stop:
		return
	case <-t.started:
	}
	tick := time.NewTicker(twccInterval)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
		}
		t.mu.Lock()
		pkts := t.rec.BuildFeedbackPacket()
		t.mu.Unlock()
		if len(pkts) == 0 {
			continue
		}
		if _, err := w.Write(pkts, nil); err != nil {
			t.log.Debug("twcc feedback not sent", "err", err)
		}
	}
}

func (t *twccFeedback) Close() error {
	t.mu.Lock()
	if !t.closed {
		t.closed = true
		close(t.stop)
	}
	t.mu.Unlock()
	t.wg.Wait()
	return nil
}

// configureTWCCFeedback negotiates transport-wide congestion control
// feedback for what we receive (as webrtc.ConfigureTWCCSender) and adds
// twccFeedback in place of pion's generator.
func configureTWCCFeedback(me *webrtc.MediaEngine, ir *interceptor.Registry, log *slog.Logger) error {
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		me.RegisterFeedback(webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBTransportCC}, kind)
		if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.TransportCCURI}, kind); err != nil {
			return err
		}
	}
	ir.Add(twccFeedbackFactory{log: log})
	return nil
}
