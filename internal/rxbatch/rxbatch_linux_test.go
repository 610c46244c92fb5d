package rxbatch_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"

	"github.com/videochat/videochat/internal/rxbatch"
)

// listen opens a socket of an rxbatch Net on loopback and a sender
// connected to it.
func listen(t *testing.T, cfg rxbatch.Config) (*rxbatch.Net, transport.UDPConn, *net.UDPConn) {
	t.Helper()
	inner, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	n := rxbatch.NewNet(inner, cfg)
	c, err := n.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if rxbatch.Syscalls(c) < 0 {
		t.Fatal("the conn does not batch")
	}
	tx, err := net.DialUDP("udp4", nil, c.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Close() })
	return n, c, tx
}

// rtp is a minimal RTP datagram (what SRTP leaves in the clear).
func rtp(ssrc uint32, seq uint16) []byte {
	b := make([]byte, 40)
	b[0], b[1] = 0x80, 96
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[8:], ssrc)
	return b
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestBurstOrderAndCompleteness: bursts of datagrams arrive complete, in
// order, from the right address, and fewer recvmmsg calls than datagrams
// read them.
func TestBurstOrderAndCompleteness(t *testing.T) {
	_, c, tx := listen(t, rxbatch.Config{Period: 5 * time.Millisecond})
	const bursts, per = 20, 100
	var got atomic.Int64
	errc := make(chan error, 1)
	go func() {
		buf := make([]byte, 1500)
		for want := uint32(0); want < bursts*per; want++ {
			n, a, err := c.ReadFrom(buf)
			if err != nil {
				errc <- err
				return
			}
			if n != 100 || binary.BigEndian.Uint32(buf) != want {
				errc <- fmt.Errorf("datagram %d: got #%d of %d bytes", want, binary.BigEndian.Uint32(buf), n)
				return
			}
			if a.String() != tx.LocalAddr().String() {
				errc <- fmt.Errorf("from %v, want %v", a, tx.LocalAddr())
				return
			}
			got.Add(1)
		}
		errc <- nil
	}()
	msg := make([]byte, 100)
	for b := range bursts {
		for i := range per {
			binary.BigEndian.PutUint32(msg, uint32(b*per+i))
			if _, err := tx.Write(msg); err != nil {
				t.Fatal(err)
			}
		}
		// The reader drains a burst before the next (so the socket
		// buffer, not the batching, never limits what arrives).
		waitUntil(t, "a burst to be read", func() bool {
			select {
			case err := <-errc:
				errc <- err
				return true
			default:
			}
			return got.Load() == int64((b+1)*per)
		})
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if s := rxbatch.Syscalls(c); s > bursts*per/2 {
		t.Fatalf("%d recvmmsg calls for %d datagrams: not batched", s, bursts*per)
	}
}

// activate makes c's reads tick: two datagrams close together.
func activate(t *testing.T, c transport.UDPConn, tx *net.UDPConn) {
	t.Helper()
	buf := make([]byte, 1500)
	for i := range 2 {
		if _, err := tx.Write(rtp(1, uint16(i))); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.ReadFrom(buf); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCloseUnblocksRead: Close returns a read blocked in the netpoller
// (idle socket) or sleeping to the next tick (active socket, long
// Period), with net.ErrClosed.
func TestCloseUnblocksRead(t *testing.T) {
	for _, tc := range []struct {
		name   string
		active bool
	}{{"idle", false}, {"between ticks", true}} {
		t.Run(tc.name, func(t *testing.T) {
			_, c, tx := listen(t, rxbatch.Config{Period: 10 * time.Second})
			if tc.active {
				activate(t, c, tx)
			}
			errc := make(chan error, 1)
			go func() {
				_, _, err := c.ReadFrom(make([]byte, 1500))
				errc <- err
			}()
			before := rxbatch.Syscalls(c)
			if !tc.active {
				// wait for the read to reach the netpoller
				waitUntil(t, "the read to start", func() bool { return rxbatch.Syscalls(c) > before })
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-errc:
				if !errors.Is(err, net.ErrClosed) {
					t.Fatalf("read after Close: %v; want net.ErrClosed", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("read still blocked 5 s after Close")
			}
			if _, _, err := c.ReadFrom(make([]byte, 10)); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("read on a closed conn: %v", err)
			}
		})
	}
}

// TestReadDeadlineBetweenTicks: a read deadline ends a read that sleeps to
// the next tick.
func TestReadDeadlineBetweenTicks(t *testing.T) {
	_, c, tx := listen(t, rxbatch.Config{Period: 10 * time.Second})
	activate(t, c, tx)
	if err := c.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	_, _, err := c.ReadFrom(make([]byte, 1500))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v", err)
	}
}

// TestIdleReadsBlock: while datagrams flow the conn ticks; once the
// socket is idle its read blocks in the netpoller and makes no recvmmsg
// calls, and the next datagram still wakes it.
func TestIdleReadsBlock(t *testing.T) {
	_, c, tx := listen(t, rxbatch.Config{Period: 5 * time.Millisecond, IdleAfter: 50 * time.Millisecond})
	reads := make(chan uint16, 100)
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := c.ReadFrom(buf); err != nil {
				close(reads)
				return
			}
			reads <- binary.BigEndian.Uint16(buf[2:])
		}
	}()
	for i := range 20 {
		if _, err := tx.Write(rtp(1, uint16(i))); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	for range 20 {
		<-reads
	}
	ticking := rxbatch.Syscalls(c)
	time.Sleep(300 * time.Millisecond) // past IdleAfter
	idle := rxbatch.Syscalls(c)
	time.Sleep(time.Second)
	if after := rxbatch.Syscalls(c); after != idle {
		t.Fatalf("%d recvmmsg calls during an idle second (after %d while ticking, %d to go idle); want 0", after-idle, ticking, idle-ticking)
	}
	if _, err := tx.Write(rtp(1, 99)); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-reads:
		if s != 99 {
			t.Fatalf("read seq %d after the idle second; want 99", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("an idle conn's read did not wake for a datagram")
	}
	_ = c.Close()
	for range reads {
	}
}

// TestArrivalIsKernelTime: a datagram whose read was held back to the
// next tick still reports when the kernel received it; only RTP is
// recorded.
func TestArrivalIsKernelTime(t *testing.T) {
	const period = 300 * time.Millisecond
	n, c, tx := listen(t, rxbatch.Config{Period: period})
	activate(t, c, tx) // ssrc 1, seq 0 and 1
	type read struct {
		at  time.Time
		seq uint16
		err error
	}
	rc := make(chan read, 1)
	go func() {
		buf := make([]byte, 1500)
		_, _, err := c.ReadFrom(buf) // sleeps to the next tick
		rc <- read{time.Now(), binary.BigEndian.Uint16(buf[2:]), err}
	}()
	before := time.Now()
	if _, err := tx.Write(rtp(0xfeed, 7)); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	r := <-rc
	if r.err != nil || r.seq != 7 {
		t.Fatalf("read: seq %d, %v", r.seq, r.err)
	}
	got, ok := n.Arrivals().Lookup(0xfeed, 7)
	if !ok {
		t.Fatal("no arrival recorded for the RTP datagram")
	}
	const slack = time.Millisecond
	if got.Before(before.Add(-slack)) || got.After(after.Add(slack)) {
		t.Fatalf("arrival %v; sent between %v and %v (read at %v)", got, before, after, r.at)
	}
	t.Logf("read %.1f ms after the kernel received it", float64(r.at.Sub(got).Microseconds())/1000)
	if _, ok := n.Arrivals().Lookup(0xfeed, 8); ok {
		t.Fatal("an arrival for a packet never sent")
	}
}

// TestPeriodZeroPassesThrough: without a Period the inner conn is
// returned as is.
func TestPeriodZeroPassesThrough(t *testing.T) {
	inner, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	c, err := rxbatch.NewNet(inner, rxbatch.Config{}).ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.(*net.UDPConn); !ok {
		t.Fatalf("Period 0: got a %T; want the inner *net.UDPConn", c)
	}
}

// TestAddrPortAndIPv6: the allocation-free read pion ICE uses, and IPv6
// source addresses, when the machine has ::1.
func TestAddrPortAndIPv6(t *testing.T) {
	inner, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	c, err := rxbatch.NewNet(inner, rxbatch.Config{Period: time.Millisecond}).ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Fatalf("::1: %v", err)
	}
	defer c.Close()
	tx, err := net.DialUDP("udp6", nil, c.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	if _, err := tx.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	ap, ok := c.(interface {
		ReadFromAddrPort([]byte) (int, netip.AddrPort, error)
		WriteToAddrPort([]byte, netip.AddrPort) (int, error)
	})
	if !ok {
		t.Fatal("no ReadFromAddrPort/WriteToAddrPort")
	}
	buf := make([]byte, 100)
	n, from, err := ap.ReadFromAddrPort(buf)
	if err != nil || string(buf[:n]) != "hello" || from != tx.LocalAddr().(*net.UDPAddr).AddrPort() {
		t.Fatalf("read %q from %v (%v); want hello from %v", buf[:n], from, err, tx.LocalAddr())
	}
	if _, err := ap.WriteToAddrPort([]byte("back"), from); err != nil {
		t.Fatal(err)
	}
	if n, err := tx.Read(buf); err != nil || string(buf[:n]) != "back" {
		t.Fatalf("reply: %q %v", buf[:n], err)
	}
}
