package whip

// Two interceptor variants that cost the forwarding server less than
// pion's, for the same RTCP on the wire:
//
//   - twccFeedback records each incoming packet's transport-wide sequence
//     number on the reading goroutine, under a mutex, where pion's TWCC
//     sender interceptor hands every packet to its own goroutine through
//     an unbuffered channel (a goroutine switch, often a thread wake-up,
//     per received packet). The feedback (twcc.Recorder, pion's) is the
//     same, sent every 100 ms by a goroutine that starts with the first
//     packet carrying the extension and ends with Close.
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
	return &twccFeedback{start: time.Now(), closed: make(chan struct{})}, nil
}

type twccFeedback struct {
	interceptor.NoOp
	start time.Time

	mu      sync.Mutex
	writer  interceptor.RTCPWriter
	rec     *twcc.Recorder // nil before the first packet with the extension
	closing bool
	closed  chan struct{}
	wg      sync.WaitGroup
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
				t.record(ssrc, tcc.TransportSequence, time.Since(t.start).Microseconds())
			}
		}
		return n, a, nil
	})
}

func (t *twccFeedback) record(ssrc uint32, seq uint16, at int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing {
		return
	}
	if t.rec == nil {
		t.rec = twcc.NewRecorder(rand.Uint32())
		t.wg.Add(1)
		go t.loop()
	}
	t.rec.Record(ssrc, seq, at)
}

// loop sends the feedback every twccInterval until Close.
func (t *twccFeedback) loop() {
	defer t.wg.Done()
	tick := time.NewTicker(twccInterval)
	defer tick.Stop()
	for {
		select {
		case <-t.closed:
			return
		case <-tick.C:
		}
		t.mu.Lock()
		pkts := t.rec.BuildFeedbackPacket()
		w := t.writer
		t.mu.Unlock()
		if len(pkts) > 0 && w != nil {
			_, _ = w.Write(pkts, nil)
		}
	}
}

func (t *twccFeedback) Close() error {
	t.mu.Lock()
	if !t.closing {
		t.closing = true
		close(t.closed)
	}
	t.mu.Unlock()
	t.wg.Wait()
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
