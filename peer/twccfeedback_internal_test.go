package peer

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
)

// rtcpLog is an RTCP writer that keeps the TWCC feedback written to it.
type rtcpLog struct {
	mu  sync.Mutex
	fbs []*rtcp.TransportLayerCC
}

func (l *rtcpLog) Write(pkts []rtcp.Packet, _ interceptor.Attributes) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range pkts {
		if fb, ok := p.(*rtcp.TransportLayerCC); ok {
			l.fbs = append(l.fbs, fb)
		}
	}
	return 0, nil
}

// last returns the number of feedback packets and the highest transport
// sequence number they covered.
func (l *rtcpLog) last() (n int, top uint16) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, fb := range l.fbs {
		top = max(top, fb.BaseSequenceNumber+fb.PacketStatusCount-1)
	}
	return len(l.fbs), top
}

// TestTWCCFeedbackInlineAndAfterPause: feedback goes out from the reading
// goroutine once twccInterval has passed since the previous one (no timer
// involved: it is there when Read returns), and the packets before a pause
// are reported by the pause timer.
//
// The inline part holds only if the second read comes before the pause
// timer (2×twccInterval after the first packet) could fire; on a machine
// so loaded that the sleep overshoots by that much, the attempt is
// repeated with a fresh interceptor rather than judged.
func TestTWCCFeedbackInlineAndAfterPause(t *testing.T) {
	for attempt := 1; ; attempt++ {
		if twccInlineAndAfterPause(t) {
			return
		}
		if attempt == 5 {
			t.Fatal("in 5 attempts the sleep of twccInterval overshot past the pause timer every time")
		}
		t.Logf("attempt %d: the sleep overshot past the pause timer; again", attempt)
	}
}

// twccInlineAndAfterPause runs TestTWCCFeedbackInlineAndAfterPause once and
// reports false, judging nothing, when the machine delayed the second read
// past the pause timer.
func twccInlineAndAfterPause(t *testing.T) bool {
	const extID = 3
	i, err := NewTWCCFeedback(TWCCFeedbackConfig{}).NewInterceptor("")
	if err != nil {
		t.Fatal(err)
	}
	defer i.Close()
	log := &rtcpLog{}
	i.BindRTCPWriter(log)
	seq := uint16(0)
	src := interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		seq++
		p := rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 7, SequenceNumber: seq}, Payload: []byte{1, 2, 3}}
		ext, _ := rtp.TransportCCExtension{TransportSequence: seq}.Marshal()
		if err := p.Header.SetExtension(extID, ext); err != nil {
			return 0, a, err
		}
		n, err := p.MarshalTo(b)
		return n, a, err
	})
	r := i.BindRemoteStream(&interceptor.StreamInfo{SSRC: 7, RTPHeaderExtensions: []interceptor.RTPHeaderExtension{{URI: sdp.TransportCCURI, ID: extID}}}, src)
	buf := make([]byte, 1500)
	read := func() {
		if _, _, err := r.Read(buf, nil); err != nil {
			t.Fatal(err)
		}
	}
	// The first packet arms the schedule; one read after twccInterval
	// brings the feedback, before Read returns.
	first := time.Now()
	read()
	if n, _ := log.last(); n != 0 {
		t.Fatalf("%d feedback packets after the first packet; want 0 until twccInterval has passed", n)
	}
	time.Sleep(twccInterval + 10*time.Millisecond)
	if time.Since(first) >= 2*twccInterval-50*time.Millisecond { // 50 ms left for the read
		return false
	}
	read()
	if n, top := log.last(); n != 1 || top != seq {
		t.Fatalf("after a read past twccInterval: %d feedback packets up to %d; want 1 up to %d, written by the read", n, top, seq)
	}
	// Two more packets, then a pause: the timer reports them.
	read()
	read()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, top := log.last(); top == seq {
			break
		}
		if time.Now().After(deadline) {
			n, top := log.last()
			t.Fatalf("after a pause: %d feedback packets up to %d; want up to %d", n, top, seq)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// TestTWCCFeedbackUsesArrival: packets read together but reported by
// TWCCFeedbackConfig.Arrival as 30 ms apart get feedback with 30 ms
// between them; a packet Arrival does not know is stamped when read.
func TestTWCCFeedbackUsesArrival(t *testing.T) {
	const extID = 5
	var arrivals map[uint16]time.Time // set before the first read
	i, err := NewTWCCFeedback(TWCCFeedbackConfig{Arrival: func(ssrc uint32, seq uint16) (time.Time, bool) {
		at, ok := arrivals[seq]
		return at, ok && ssrc == 9
	}}).NewInterceptor("")
	if err != nil {
		t.Fatal(err)
	}
	defer i.Close()
	base := time.Now().Round(0)
	arrivals = map[uint16]time.Time{1: base, 2: base.Add(30 * time.Millisecond)}
	for time.Since(base) < 80*time.Millisecond { // the three are read 50+ ms after 2 arrived
		time.Sleep(5 * time.Millisecond)
	}
	log := &rtcpLog{}
	i.BindRTCPWriter(log)
	seq := uint16(0)
	src := interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		seq++
		p := rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 9, SequenceNumber: seq}, Payload: []byte{1}}
		ext, _ := rtp.TransportCCExtension{TransportSequence: 100 + seq}.Marshal()
		if err := p.Header.SetExtension(extID, ext); err != nil {
			return 0, a, err
		}
		n, err := p.MarshalTo(b)
		return n, a, err
	})
	r := i.BindRemoteStream(&interceptor.StreamInfo{SSRC: 9, RTPHeaderExtensions: []interceptor.RTPHeaderExtension{{URI: sdp.TransportCCURI, ID: extID}}}, src)
	buf := make([]byte, 1500)
	for range 3 { // seq 1 and 2 from Arrival, 3 stamped when read (50+ ms after 2)
		if _, _, err := r.Read(buf, nil); err != nil {
			t.Fatal(err)
		}
	}
	waitFeedback := func() *rtcp.TransportLayerCC {
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			log.mu.Lock()
			if len(log.fbs) > 0 {
				fb := log.fbs[0]
				log.mu.Unlock()
				return fb
			}
			log.mu.Unlock()
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatal("no feedback")
		return nil
	}
	fb := waitFeedback()
	if fb.BaseSequenceNumber != 101 || len(fb.RecvDeltas) != 3 {
		t.Fatalf("feedback from %d with %d deltas; want 101 with 3", fb.BaseSequenceNumber, len(fb.RecvDeltas))
	}
	if d := fb.RecvDeltas[1].Delta; d < 29000 || d > 31000 {
		t.Fatalf("delta between packets Arrival put 30 ms apart: %d µs", d)
	}
	if d := fb.RecvDeltas[2].Delta; d < 45000 {
		t.Fatalf("delta to the packet Arrival did not know: %d µs; want 50+ ms (it is stamped when read)", d)
	}
}
