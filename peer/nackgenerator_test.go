package peer

import (
	"bytes"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

func TestReceiveLog(t *testing.T) {
	var l receiveLog
	for s := range uint16(600) { // no loss, past the window
		l.add(s)
		if got := l.missing(nil); len(got) != 0 {
			t.Fatalf("after %d with no loss: missing %v", s, got[:min(len(got), 3)])
		}
	}
	l = receiveLog{}
	for _, s := range []uint16{65530, 65531, 65533, 65535, 1, 2} { // across the wrap
		l.add(s)
	}
	want := []uint16{65532, 65534, 0}
	if got := l.missing(nil); !slices.Equal(got, want) {
		t.Fatalf("missing %v, want %v", got, want)
	}
	l.add(65534) // late, or repaired
	l.add(65534) // twice
	if got := l.missing(nil); !slices.Equal(got, []uint16{65532, 0}) {
		t.Fatalf("after 65534 arrived: missing %v", got)
	}
	l.add(100) // older ones fall behind the newest, still in the window
	if got := l.missing(nil); len(got) != 2+97 || got[0] != 65532 || got[2] != 3 {
		t.Fatalf("after 100: missing %d: %v…", len(got), got[:min(len(got), 3)])
	}
	l.add(100 + nackWindow - 1) // 65532 and 0 leave the window
	got := l.missing(nil)
	if slices.Contains(got, 65532) || slices.Contains(got, 0) || got[0] != 101 {
		t.Fatalf("after the window moved: missing starts %v", got[:3])
	}
	l.add(10) // out of the window: ignored
	if slices.Contains(l.missing(nil), 10) {
		t.Fatal("10 counted though out of the window")
	}
	l.add(5000) // a jump past the window: nothing before it is asked for
	if got := l.missing(nil); len(got) != 0 {
		t.Fatalf("after a jump: missing %v", got[:min(len(got), 3)])
	}
}

// feed is an RTPReader returning its packets in turn, then io.EOF.
type feed struct{ pkts [][]byte }

func (f *feed) Read(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
	if len(f.pkts) == 0 {
		return 0, nil, io.EOF
	}
	n := copy(b, f.pkts[0])
	f.pkts = f.pkts[1:]
	return n, a, nil
}

func rtpBytes(t *testing.T, ssrc uint32, seq uint16, payload []byte, padding byte) []byte {
	t.Helper()
	p := &rtp.Packet{Header: rtp.Header{Version: 2, SSRC: ssrc, SequenceNumber: seq, PayloadType: 96}, Payload: payload}
	if padding > 0 {
		p.Padding, p.PaddingSize = true, padding
	}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func nackedSeqs(pkts []rtcp.Packet, media uint32) []uint16 {
	var seqs []uint16
	for _, p := range pkts {
		if n, ok := p.(*rtcp.TransportLayerNack); ok && n.MediaSSRC == media {
			for _, pair := range n.Nacks {
				seqs = append(seqs, pair.PacketList()...)
			}
		}
	}
	return seqs
}

// TestNackGeneratorRTXRepair: packets repaired through the RTX stream are
// not asked for again; packets never repaired are asked for at most
// maxNacks times, one retry interval apart; the RTX packets pass up
// unchanged; the RTX stream is mapped to its primary from the first RTX
// packet that answers a NACK.
func TestNackGeneratorRTXRepair(t *testing.T) {
	const media, rtx = 1111, 2222
	g := newNackGen(t, 3)

	prim := &feed{}
	for _, s := range []uint16{10, 11, 13, 14, 16, 17} { // 12 and 15 lost
		prim.pkts = append(prim.pkts, rtpBytes(t, media, s, []byte{1, 2, 3}, 0))
	}
	pr := g.BindRemoteStream(&interceptor.StreamInfo{SSRC: media, MimeType: "video/VP8",
		RTCPFeedback: []interceptor.RTCPFeedback{{Type: "nack"}}}, prim)
	osn12 := rtpBytes(t, rtx, 500, []byte{0, 12, 1, 2, 3}, 0)
	probe := rtpBytes(t, rtx, 501, nil, 200) // padding only: a probe
	rx := &feed{pkts: [][]byte{bytes.Clone(osn12), bytes.Clone(probe)}}
	rr := g.BindRemoteStream(&interceptor.StreamInfo{SSRC: rtx, MimeType: "video/rtx"}, rx)

	buf := make([]byte, 1500)
	for range 6 {
		if _, _, err := pr.Read(buf, nil); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Now()
	pkts, _ := g.nacks(t0, 1, 9, nil)
	if got := nackedSeqs(pkts, media); !slices.Equal(got, []uint16{12, 15}) {
		t.Fatalf("first NACK asks for %v, want [12 15]", got)
	}
	if pkts, _ = g.nacks(t0.Add(nackInterval/2), 2, 9, nil); len(nackedSeqs(pkts, media)) != 0 {
		t.Fatal("asked again before the retry interval")
	}
	for _, want := range [][]byte{osn12, probe} {
		n, _, err := rr.Read(buf, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf[:n], want) {
			t.Fatal("an RTX packet was changed on its way up")
		}
	}
	var asked []uint16
	for k := range 5 {
		pkts, _ = g.nacks(t0.Add(time.Duration(k+1)*nackInterval), uint64(k+3), 9, nil)
		asked = append(asked, nackedSeqs(pkts, media)...)
	}
	if slices.Contains(asked, 12) {
		t.Errorf("12 was repaired through RTX but asked for again: %v", asked)
	}
	if !slices.Equal(asked, []uint16{15, 15}) { // 3 NACKs in all
		t.Errorf("later NACKs asked for %v, want 15 twice more (maxNacks 3)", asked)
	}
	g.mu.Lock()
	mapped := g.rtxOf[rtx]
	g.mu.Unlock()
	if mapped != media {
		t.Errorf("RTX stream mapped to %d, want %d", mapped, media)
	}
}

// TestNackGeneratorStartsWithAStream: a connection that receives nothing
// NACKable runs no ticker; the ticker starts with the first such stream,
// writes its NACKs, and stops with Close.
func TestNackGeneratorStartsWithAStream(t *testing.T) {
	f := nackGenFactory{maxNacks: 5, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	i, err := f.NewInterceptor("pc")
	if err != nil {
		t.Fatal(err)
	}
	g := i.(*nackGenerator)
	written := make(chan []rtcp.Packet, 10)
	g.BindRTCPWriter(interceptor.RTCPWriterFunc(func(p []rtcp.Packet, _ interceptor.Attributes) (int, error) {
		select {
		case written <- p:
		default:
		}
		return 0, nil
	}))
	g.BindRemoteStream(&interceptor.StreamInfo{SSRC: 7, MimeType: "audio/opus"}, &feed{})
	g.mu.Lock()
	running := g.running
	g.mu.Unlock()
	if running {
		t.Fatal("ticker running with no NACKable stream")
	}
	r := g.BindRemoteStream(&interceptor.StreamInfo{SSRC: 8, MimeType: "video/VP8",
		RTCPFeedback: []interceptor.RTCPFeedback{{Type: "nack"}}},
		&feed{pkts: [][]byte{rtpBytes(t, 8, 1, []byte{1}, 0), rtpBytes(t, 8, 3, []byte{1}, 0)}})
	buf := make([]byte, 1500)
	for range 2 {
		if _, _, err := r.Read(buf, nil); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case p := <-written:
		if got := nackedSeqs(p, 8); !slices.Equal(got, []uint16{2}) {
			t.Errorf("NACK for %v, want [2]", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no NACK written")
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestNackGeneratorRetryAfterRoundTrip: once a repair took 300 ms from
// its NACK, a missing packet is asked for again only after ≈ 1.25 x that,
// not every nackInterval; the RTX stream is mapped from the primary's
// StreamInfo when it names it.
func TestNackGeneratorRetryAfterRoundTrip(t *testing.T) {
	const media, rtx = 1111, 2222
	g := newNackGen(t, 5)
	prim := &feed{}
	for _, s := range []uint16{1, 3, 5} {
		prim.pkts = append(prim.pkts, rtpBytes(t, media, s, []byte{1}, 0))
	}
	pr := g.BindRemoteStream(&interceptor.StreamInfo{SSRC: media, SSRCRetransmission: rtx, MimeType: "video/VP8",
		RTCPFeedback: []interceptor.RTCPFeedback{{Type: "nack"}}}, prim)
	buf := make([]byte, 1500)
	for range 3 {
		if _, _, err := pr.Read(buf, nil); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Now()
	if pkts, _ := g.nacks(t0, 1, 9, nil); !slices.Equal(nackedSeqs(pkts, media), []uint16{2, 4}) {
		t.Fatalf("first NACK asks for %v, want [2 4]", nackedSeqs(pkts, media))
	}
	g.repaired(rtx, 2, t0.Add(300*time.Millisecond))
	for k := 1; k <= 3; k++ {
		if pkts, _ := g.nacks(t0.Add(time.Duration(k)*nackInterval), uint64(k+1), 9, nil); len(pkts) != 0 {
			t.Fatalf("asked for %v %v after the NACK, before the round trip", nackedSeqs(pkts, media), time.Duration(k)*nackInterval)
		}
	}
	if pkts, _ := g.nacks(t0.Add(400*time.Millisecond), 5, 9, nil); !slices.Equal(nackedSeqs(pkts, media), []uint16{4}) {
		t.Fatalf("400 ms after the NACK: asked for %v, want [4]", nackedSeqs(pkts, media))
	}
}

// newNackGen returns a generator that asks for a packet at most maxNacks
// times and logs nowhere; the test's cleanup closes it.
func newNackGen(t *testing.T, maxNacks int) *nackGenerator {
	t.Helper()
	f := nackGenFactory{maxNacks: maxNacks, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	i, err := f.NewInterceptor("pc")
	if err != nil {
		t.Fatal(err)
	}
	g := i.(*nackGenerator)
	t.Cleanup(func() { _ = g.Close() })
	return g
}
