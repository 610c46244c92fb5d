package whip_test

import (
	"context"
	"encoding/binary"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"

	"github.com/videochat/videochat/signal"
	"github.com/videochat/videochat/whip"
)

// dropOnce is a publisher's transport.Net whose sockets lose the first
// transmission of one media packet (SSRC and sequence number read from
// the SRTP header, which is in the clear).
type dropOnce struct {
	*stdnet.Net
	ssrc    atomic.Uint32
	seq     uint16
	dropped atomic.Bool
}

func (d *dropOnce) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := d.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	return &dropOnceConn{UDPConn: c, d: d}, nil
}

func (d *dropOnce) drop(b []byte) bool {
	return len(b) >= 12 && b[0]>>6 == 2 && binary.BigEndian.Uint32(b[8:12]) == d.ssrc.Load() &&
		binary.BigEndian.Uint16(b[2:4]) == d.seq && d.dropped.CompareAndSwap(false, true)
}

type dropOnceConn struct {
	transport.UDPConn
	d *dropOnce
}

func (c *dropOnceConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if c.d.drop(b) {
		return len(b), nil
	}
	return c.UDPConn.WriteTo(b, addr)
}

// TestWHIPStopsNackingRTXRepairs: the server's NACK generator
// (peer.NewNACKGenerator) sees a lost packet repaired through the
// publisher's RTX stream and asks for it once, where pion's kept asking
// every 100 ms while the packet was in its window.
func TestWHIPStopsNackingRTXRepairs(t *testing.T) {
	const lost = 40
	e := startEnv(t, signal.Config{}, whip.Config{})
	startRoomPeer(t, e, "rtx", "bob", nil, nil)
	base, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	lossy := &dropOnce{Net: base, seq: lost}
	pub := newRawPublisher(t, false, lossy)
	pc, tc, raw := pub.pc, pub.tc, pub.raw
	enc := tc.Sender().GetParameters().Encodings[0]
	if enc.RTX.SSRC == 0 {
		t.Fatal("no RTX negotiated for the publisher's video")
	}
	lossy.ssrc.Store(uint32(enc.SSRC))
	var nacks atomic.Int64 // NACKs for the lost packet
	pub.onRTCP(func(p rtcp.Packet) {
		if n, ok := p.(*rtcp.TransportLayerNack); ok {
			nacks.Add(nacksFor(n, lost))
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	sess, err := whip.Dial(ctx, nil, e.url+"/whip/rtx?name=pub", "", pc)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	t.Cleanup(func() { _ = sess.Close(context.Background()) })
	// 200 packets/s; once the loss is asked for, go on for 1 s more
	// (pion's generator would ask ≈ 10 times more in that time).
	seq := uint16(0)
	var askedAt uint16
	waitFor(t, "a NACK for the lost packet, and 1 s of packets after it", func() bool {
		for range 10 {
			seq++
			raw.write(seq, 0, 'v')
			time.Sleep(5 * time.Millisecond)
		}
		if askedAt == 0 && nacks.Load() > 0 {
			askedAt = seq
		}
		return askedAt != 0 && seq-askedAt >= 200
	})
	if !lossy.dropped.Load() {
		t.Fatal("the packet was never dropped")
	}
	if n := nacks.Load(); n > 2 {
		t.Errorf("the server asked for the lost packet %d times; it was repaired through RTX after the first", n)
	}
}
