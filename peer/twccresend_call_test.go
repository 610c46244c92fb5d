package peer

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/webrtc/v4"

	"github.com/videochat/videochat/internal/looptest"
)

// lossyNet is the sender's network in TestResendFromFeedbackOnACall: a
// transport.Net whose UDP sockets drop a fraction of the RTP datagrams
// they send (never STUN, DTLS or RTCP), drawn from a seeded generator. It
// records which media packets it dropped: an SRTP packet's header is in
// the clear, so the SSRC and sequence number can be read.
type lossyNet struct {
	*stdnet.Net
	loss  float64
	media atomic.Uint32 // the media SSRC whose drops are recorded
	// steady is set by the sender while the link counts as lossy at
	// random (Links.SteadyLoss), read when a packet is dropped.
	steady atomic.Bool

	mu      sync.Mutex
	rng     *rand.Rand
	dropped map[uint16]bool // media sequence numbers dropped → steady then
	rtp     int             // RTP datagrams seen
	lost    int             // RTP datagrams dropped (media and RTX)
}

func newLossyNet(t *testing.T, loss float64, seed uint64) *lossyNet {
	base, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	return &lossyNet{Net: base, loss: loss, rng: rand.New(rand.NewPCG(seed, 5)), dropped: map[uint16]bool{}}
}

func (n *lossyNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	return &lossyConn{UDPConn: c, n: n}, nil
}

// drop reports whether the datagram b is lost, and records it.
func (n *lossyNet) drop(b []byte) bool {
	// RTP: version 2; RTCP (RFC 5761: packet type 192–223) passes.
	if len(b) < 12 || b[0]>>6 != 2 || (b[1] >= 192 && b[1] <= 223) {
		return false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.rtp++
	if n.rng.Float64() >= n.loss {
		return false
	}
	n.lost++
	if binary.BigEndian.Uint32(b[8:12]) == n.media.Load() {
		n.dropped[binary.BigEndian.Uint16(b[2:4])] = n.steady.Load()
	}
	return true
}

// droppedMedia returns the media sequence numbers dropped so far, and how
// many of them while the link was steady.
func (n *lossyNet) droppedMedia() (all map[uint16]bool, steady int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	all = make(map[uint16]bool, len(n.dropped))
	for seq, s := range n.dropped {
		all[seq] = s
		if s {
			steady++
		}
	}
	return all, steady
}

type lossyConn struct {
	transport.UDPConn
	n *lossyNet
}

func (c *lossyConn) Write(b []byte) (int, error) {
	if c.n.drop(b) {
		return len(b), nil
	}
	return c.UDPConn.Write(b)
}

func (c *lossyConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if c.n.drop(b) {
		return len(b), nil
	}
	return c.UDPConn.WriteTo(b, addr)
}

func (c *lossyConn) WriteToUDP(b []byte, addr *net.UDPAddr) (int, error) {
	if c.n.drop(b) {
		return len(b), nil
	}
	return c.UDPConn.WriteToUDP(b, addr)
}

func (c *lossyConn) WriteMsgUDP(b, oob []byte, addr *net.UDPAddr) (int, int, error) {
	if c.n.drop(b) {
		return len(b), len(oob), nil
	}
	return c.UDPConn.WriteMsgUDP(b, oob, addr)
}

// nackFilter is a receiver's interceptor, closest to the network, that
// counts the outgoing NACKs and, when drop is set, takes them out.
type nackFilter struct {
	interceptor.NoOp
	drop  bool
	nacks *atomic.Uint64
}

func (f *nackFilter) NewInterceptor(string) (interceptor.Interceptor, error) { return f, nil }

func (f *nackFilter) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	return interceptor.RTCPWriterFunc(func(pkts []rtcp.Packet, a interceptor.Attributes) (int, error) {
		kept := make([]rtcp.Packet, 0, len(pkts))
		for _, p := range pkts {
			if _, ok := p.(*rtcp.TransportLayerNack); ok {
				f.nacks.Add(1)
				if f.drop {
					continue
				}
			}
			kept = append(kept, p)
		}
		if len(kept) == 0 {
			return 0, nil
		}
		return w.Write(kept, a)
	})
}

// feedbackCall is a sender and a receiver built as the native peer builds
// them (Links' interceptors, pion's default codecs with RTX), on loopback,
// the sender's RTP through a lossyNet and the receiver's NACKs through a
// nackFilter; the sender sends ≈ 30 fps of 8-packet "frames".
type feedbackCall struct {
	ls       *Links
	tx, rx   *webrtc.PeerConnection
	net      *lossyNet
	nacks    atomic.Uint64 // NACKs the receiver wrote
	ssrc     uint32        // the sender's media SSRC
	mu       sync.Mutex
	orig     map[uint16]bool // media sequence numbers read as sent
	fromRTX  map[uint16]int  // media sequence numbers read from RTX → times
	rtxReads int             // RTX packets read
	sent     atomic.Uint64   // media packets written (200 bytes of payload each)
}

func newFeedbackCall(t *testing.T, dropNacks bool) *feedbackCall {
	c := &feedbackCall{ls: NewLinks(LinksConfig{Ceiling: 1_000_000}), net: newLossyNet(t, 0.05, 13),
		orig: map[uint16]bool{}, fromRTX: map[uint16]int{}}
	api := func(ls *Links, n transport.Net, first ...interceptor.Factory) *webrtc.API {
		me := &webrtc.MediaEngine{}
		if err := me.RegisterDefaultCodecs(); err != nil {
			t.Fatal(err)
		}
		if err := RegisterHeaderExtensions(me); err != nil {
			t.Fatal(err)
		}
		ir := &interceptor.Registry{}
		for _, f := range first {
			ir.Add(f)
		}
		if err := ls.Register(me, ir); err != nil {
			t.Fatal(err)
		}
		se := webrtc.SettingEngine{}
		looptest.Restrict(&se)
		if n != nil {
			se.SetNet(n)
		}
		return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	}
	var err error
	if c.tx, err = api(c.ls, c.net).NewPeerConnection(webrtc.Configuration{}); err != nil {
		t.Fatal(err)
	}
	rxLinks := NewLinks(LinksConfig{Ceiling: 1_000_000})
	if c.rx, err = api(rxLinks, nil, &nackFilter{drop: dropNacks, nacks: &c.nacks}).NewPeerConnection(webrtc.Configuration{}); err != nil {
		_ = c.tx.Close()
		t.Fatal(err)
	}
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "s")
	if err != nil {
		t.Fatal(err)
	}
	sender, err := c.tx.AddTrack(track)
	if err != nil {
		t.Fatal(err)
	}
	c.ssrc = uint32(sender.GetParameters().Encodings[0].SSRC)
	c.net.media.Store(c.ssrc)
	if sender.GetParameters().Encodings[0].RTX.SSRC == 0 {
		t.Fatal("no RTX stream negotiated for the video")
	}

	readerDone := make(chan struct{})
	var onTrack sync.Once
	c.rx.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		onTrack.Do(func() {
			defer close(readerDone)
			for {
				p, a, err := tr.ReadRTP()
				if err != nil {
					return
				}
				c.mu.Lock()
				if a != nil && a.Get(webrtc.AttributeRtxSsrc) != nil {
					c.fromRTX[p.SequenceNumber]++
					c.rtxReads++
				} else {
					c.orig[p.SequenceNumber] = true
				}
				c.mu.Unlock()
			}
		})
	})
	rtcpDone := make(chan struct{})
	go func() { // the sender's RTCP must be read for the interceptors to run
		defer close(rtcpDone)
		for {
			if _, _, err := sender.ReadRTCP(); err != nil {
				return
			}
		}
	}()
	stop, sendDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sendDone)
		tick := time.NewTicker(33 * time.Millisecond)
		defer tick.Stop()
		var seq uint16
		var ts uint32
		payload := make([]byte, 200)
		payload[0] = 0x10 // a VP8 descriptor's start-of-partition bit
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			c.net.steady.Store(c.ls.SteadyLoss(c.ssrc))
			for i := range 8 {
				p := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts, Marker: i == 7}, Payload: payload}
				_ = track.WriteRTP(p)
				c.sent.Add(1)
				seq++
			}
			ts += 3000
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-sendDone
		_ = c.tx.Close()
		_ = c.rx.Close()
		<-rtcpDone
		// Waits for a running reader (it stops with rx); closes
		// readerDone if none ever started.
		onTrack.Do(func() { close(readerDone) })
	})
	looptest.Connect(t, c.tx, c.rx)
	return c
}

// recovered returns how many of seqs the receiver read from RTX only.
func (c *feedbackCall) recovered(seqs map[uint16]bool, steadyOnly bool) (n, of int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for seq, steady := range seqs {
		if steadyOnly && !steady {
			continue
		}
		of++
		if c.fromRTX[seq] > 0 && !c.orig[seq] {
			n++
		}
	}
	return n, of
}

// rtxCopies returns the RTX packets read so far per media packet they
// carried, for the log.
func (c *feedbackCall) rtxCopies() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return float64(c.rtxReads) / float64(max(len(c.fromRTX), 1))
}

// copiesOf returns how many of seqs were read from RTX only, and the RTX
// packets read for them.
func (c *feedbackCall) copiesOf(seqs map[uint16]bool) (recovered, copies int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for seq := range seqs {
		if n := c.fromRTX[seq]; n > 0 && !c.orig[seq] {
			recovered++
			copies += n
		}
	}
	return recovered, copies
}

// feedbackResends returns the sender link's count of resends from TWCC
// feedback.
func (c *feedbackCall) feedbackResends() uint64 {
	if l := c.ls.lookup(c.tx.ID()); l != nil {
		return l.feedbackResends.Load()
	}
	return 0
}

// rtxBytes returns the RTX payload bytes the sender's link sent.
func (c *feedbackCall) rtxBytes() uint64 {
	if l := c.ls.lookup(c.tx.ID()); l != nil {
		return l.rtxBytes.Load()
	}
	return 0
}

func (c *feedbackCall) nacksReceived() uint64 {
	if l := c.ls.lookup(c.tx.ID()); l != nil {
		return l.nacks.Load()
	}
	return 0
}

// pollFor polls cond until it holds or the deadline passes; cond also
// says what it saw, for the failure.
func pollFor(t *testing.T, what string, d time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; saw %s", d, what, saw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestResendFromFeedbackOnACall: two real pion PeerConnections built as
// the native peer builds them; the sender's RTP loses 5 % at random on
// its socket (lossyNet, fixed seed). With every NACK of the receiver
// dropped, a lost video packet can come back only as a resend from TWCC
// feedback (twccresend.go): once the sender's estimator sees the link as
// lossy at random, the sender counts such resends and most video packets
// dropped while it did arrive anyway, as RTX. Control: with NACKs let
// through, the dropped packets come back too.
func TestResendFromFeedbackOnACall(t *testing.T) {
	const (
		sample = 30 // dropped media packets looked at
		wait   = 60 * time.Second
	)
	t.Run("NACKs dropped", func(t *testing.T) {
		c := newFeedbackCall(t, true)
		var drops map[uint16]bool
		pollFor(t, "resends from feedback, and video packets dropped on a steady lossy link", wait, func() (bool, string) {
			var steady int
			drops, steady = c.net.droppedMedia()
			resends := c.feedbackResends()
			return resends > 0 && steady >= sample, fmt.Sprintf("%d resends from feedback, %d video packets dropped (%d on a steady link)", resends, len(drops), steady)
		})
		// Recovery of the sample takes a feedback interval and a round
		// trip; poll for the share rather than wait a fixed time.
		var n, of int
		deadline := time.Now().Add(wait)
		for {
			n, of = c.recovered(drops, true)
			if 10*n >= 6*of || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		all, ofAll := c.recovered(drops, false)
		t.Logf("steady drops recovered from RTX (when the bar was met): %d of %d; all drops: %d of %d; resends from feedback: %d; NACKs dropped: %d; RTX copies per packet: %.1f",
			n, of, all, ofAll, c.feedbackResends(), c.nacks.Load(), c.rtxCopies())
		if 10*n < 6*of {
			t.Errorf("%d of %d video packets dropped on a steady lossy link arrived as RTX, want at least 60 %%", n, of)
		}
		if c.nacks.Load() == 0 {
			t.Error("the receiver wrote no NACK: the test does not show that the feedback path alone recovered the packets")
		}
		if got := c.nacksReceived(); got != 0 {
			t.Errorf("the sender received %d NACKs through the filter", got)
		}
	})
	t.Run("NACKs allowed", func(t *testing.T) {
		c := newFeedbackCall(t, false)
		var drops map[uint16]bool
		pollFor(t, "dropped video packets", wait, func() (bool, string) {
			drops, _ = c.net.droppedMedia()
			return len(drops) >= sample, fmt.Sprintf("%d dropped", len(drops))
		})
		var n, of int
		deadline := time.Now().Add(wait)
		for {
			n, of = c.recovered(drops, false)
			if 10*n >= 9*of || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("drops recovered from RTX: %d of %d; NACKs received: %d; resends from feedback: %d; RTX copies per packet: %.1f",
			n, of, c.nacksReceived(), c.feedbackResends(), c.rtxCopies())
		if 10*n < 9*of {
			t.Errorf("%d of %d dropped video packets arrived as RTX with NACKs allowed, want at least 90 %%", n, of)
		}
		if c.nacksReceived() == 0 {
			t.Error("the sender received no NACK")
		}

		// On a steady lossy link the sender answers each NACK with two
		// RTX copies (nackresponder.go); the receiver must stop asking
		// once a copy arrived (nackgenerator.go sees RTX), so a
		// recovered packet comes about twice, not once per NACK until
		// the cap (4–7 times with pion's generator).
		var steadyDrops map[uint16]bool
		pollFor(t, "video packets dropped on a steady lossy link", wait, func() (bool, string) {
			all, steady := c.net.droppedMedia()
			steadyDrops = map[uint16]bool{}
			for seq, s := range all {
				if s {
					steadyDrops[seq] = true
				}
			}
			return steady >= sample, fmt.Sprintf("%d dropped on a steady link", steady)
		})
		rtx0, sent0 := c.rtxBytes(), c.sent.Load()
		// Let the repairs (and any repeated NACKs) of that sample play
		// out: wait for another sample of steady drops, ≥ 1 s later.
		pollFor(t, "more steady drops", wait, func() (bool, string) {
			_, steady := c.net.droppedMedia()
			return steady >= len(steadyDrops)+sample, fmt.Sprintf("%d dropped on a steady link", steady)
		})
		rtxShare := float64(c.rtxBytes()-rtx0) / float64(200*max(c.sent.Load()-sent0, 1))
		rec, copies := c.copiesOf(steadyDrops)
		per := float64(copies) / float64(max(rec, 1))
		t.Logf("steady drops recovered from RTX: %d of %d; RTX copies per recovered packet: %.2f; NACKs received: %d; RTX bytes / video bytes since: %.3f",
			rec, len(steadyDrops), per, c.nacksReceived(), rtxShare)
		if 10*rec < 9*len(steadyDrops) {
			t.Errorf("%d of %d video packets dropped on a steady link arrived as RTX, want at least 90 %%", rec, len(steadyDrops))
		}
		if per > 2.5 {
			t.Errorf("%.2f RTX copies per recovered packet on a steady lossy link, want at most 2.5: the receiver asks again for repaired packets", per)
		}
	})
}
