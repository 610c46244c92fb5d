package peer

import (
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
)

// rtcpSink records what an interceptor writes as RTCP.
type rtcpSink struct {
	mu   sync.Mutex
	pkts []rtcp.Packet
}

func (s *rtcpSink) Write(pkts []rtcp.Packet, _ interceptor.Attributes) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pkts = append(s.pkts, pkts...)
	return len(pkts), nil
}

func (s *rtcpSink) feedback() []*rtcp.TransportLayerCC {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*rtcp.TransportLayerCC
	for _, p := range s.pkts {
		if fb, ok := p.(*rtcp.TransportLayerCC); ok {
			out = append(out, fb)
		}
	}
	return out
}

// TestTWCCFeedback: packets read through the interceptor with transport-wide
// sequence numbers come back as TWCC feedback (every one of them, as
// received, none lost) on the RTCP writer; a stream without the extension
// passes through untouched; Close stops the feedback goroutine (goleak).
func TestTWCCFeedback(t *testing.T) {
	i, err := twccFeedbackFactory{log: slog.New(slog.DiscardHandler)}.NewInterceptor("")
	if err != nil {
		t.Fatal(err)
	}
	out := &rtcpSink{}
	i.BindRTCPWriter(out)
	const extID = 5
	var pkts [][]byte
	for seq := uint16(0); seq < 20; seq++ {
		p := rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 7, SequenceNumber: 1000 + seq, PayloadType: 96}, Payload: []byte{1, 2, 3}}
		ext, _ := (&rtp.TransportCCExtension{TransportSequence: 500 + seq}).Marshal()
		if err := p.SetExtension(extID, ext); err != nil {
			t.Fatal(err)
		}
		b, _ := p.Marshal()
		pkts = append(pkts, b)
	}
	src := interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n := copy(b, pkts[0])
		pkts = pkts[1:]
		return n, a, nil
	})
	r := i.BindRemoteStream(&interceptor.StreamInfo{SSRC: 7,
		RTPHeaderExtensions: []interceptor.RTPHeaderExtension{{URI: sdp.TransportCCURI, ID: extID}}}, src)
	buf := make([]byte, 1500)
	for len(pkts) > 0 {
		if _, _, err := r.Read(buf, nil); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(out.feedback()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no TWCC feedback within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	fb := out.feedback()[0]
	if fb.MediaSSRC != 7 || fb.BaseSequenceNumber != 500 || fb.PacketStatusCount != 20 {
		t.Errorf("feedback media ssrc %d base %d count %d, want 7, 500, 20", fb.MediaSSRC, fb.BaseSequenceNumber, fb.PacketStatusCount)
	}
	got, lost := twccCounts(fb)
	if got != 20 || lost != 0 {
		t.Errorf("feedback says %d received, %d lost; want 20, 0", got, lost)
	}
	plain := interceptor.RTPReaderFunc(func([]byte, interceptor.Attributes) (int, interceptor.Attributes, error) { return 0, nil, nil })
	if r := i.BindRemoteStream(&interceptor.StreamInfo{SSRC: 8}, plain); r == nil {
		t.Error("a stream without the extension got no reader")
	}
	if err := i.Close(); err != nil {
		t.Fatal(err)
	}
}
