package whip_test

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/videochat/videochat/whip"
)

// quietListen opens a socket of whip.NewNet on addr and checks that it is
// the quiet kind (reads and writes without net.Addr, as ICE uses it).
func quietListen(t *testing.T, network, addr string) interface {
	net.PacketConn
	ReadFromAddrPort([]byte) (int, netip.AddrPort, error)
	WriteToAddrPort([]byte, netip.AddrPort) (int, error)
} {
	t.Helper()
	n, err := whip.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	c, err := n.ListenUDP(network, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	q, ok := c.(interface {
		net.PacketConn
		ReadFromAddrPort([]byte) (int, netip.AddrPort, error)
		WriteToAddrPort([]byte, netip.AddrPort) (int, error)
	})
	if !ok {
		t.Fatalf("%T is not the quiet socket pair", c)
	}
	return q
}

// TestQuietUDPRoundTrip: datagrams to the socket all arrive on its read
// side, and its writes leave from the same address and port, also while
// another socket of this user has joined the port with SO_REUSEPORT.
func TestQuietUDPRoundTrip(t *testing.T) {
	for _, tc := range []struct{ network, addr, peer string }{
		{"udp", "127.0.0.1:0", "127.0.0.1:0"},
		{"udp6", "[::1]:0", "[::1]:0"},
	} {
		t.Run(tc.network+" "+tc.addr, func(t *testing.T) {
			peer, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(tc.peer)))
			if err != nil {
				if tc.network == "udp6" {
					t.Skip("no IPv6 loopback:", err) // containers without ::1
				}
				t.Fatal(err)
			}
			defer peer.Close()
			q := quietListen(t, tc.network, tc.addr)
			la := q.LocalAddr().(*net.UDPAddr).AddrPort()
			local := netip.AddrPortFrom(la.Addr().Unmap(), la.Port())
			intruder := joinReusePort(t, local)
			defer unix.Close(intruder)
			pa := peer.LocalAddr().(*net.UDPAddr).AddrPort()
			peerAddr := netip.AddrPortFrom(pa.Addr().Unmap(), pa.Port())
			const count = 50
			buf := make([]byte, 1500)
			for i := range count {
				msg := []byte{byte(i), 'x'}
				if _, err := peer.WriteToUDPAddrPort(msg, local); err != nil {
					t.Fatal(err)
				}
				_ = q.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, from, err := q.ReadFromAddrPort(buf)
				if err != nil {
					t.Fatalf("datagram %d: %v", i, err)
				}
				if n != 2 || buf[0] != byte(i) || from != peerAddr {
					t.Fatalf("datagram %d: got % x from %v, want %02x 78 from %v", i, buf[:n], from, i, peerAddr)
				}
				if _, err := q.WriteToAddrPort([]byte{byte(i), 'y'}, peerAddr); err != nil {
					t.Fatal(err)
				}
				_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, src, err := peer.ReadFromUDPAddrPort(buf)
				if err != nil {
					t.Fatalf("reply %d: %v", i, err)
				}
				if n != 2 || buf[0] != byte(i) || src != local {
					t.Fatalf("reply %d: got % x from %v, want %02x 79 from %v", i, buf[:n], src, i, local)
				}
			}
			if n, _, err := unix.Recvfrom(intruder, buf, unix.MSG_DONTWAIT); !errors.Is(err, unix.EAGAIN) {
				t.Fatalf("the other SO_REUSEPORT socket received %d bytes (err %v); all belong to the first", n, err)
			}
		})
	}
}

// joinReusePort binds a socket with SO_REUSEPORT to ap, as another program
// of the same user could.
func joinReusePort(t *testing.T, ap netip.AddrPort) int {
	t.Helper()
	domain := unix.AF_INET6
	var sa unix.Sockaddr = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	if ap.Addr().Is4() {
		domain = unix.AF_INET
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	}
	fd, err := unix.Socket(domain, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if domain == unix.AF_INET6 {
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		t.Fatalf("join %v: %v", ap, err)
	}
	return fd
}

// TestQuietUDPWritesDoNotSignal: writes through the quiet socket do not make
// its read socket report "writable" to an edge-triggered epoll, as Go's
// netpoller registers it; an ordinary socket's writes do (the reason for the
// quiet socket: each such event wakes a thread).
func TestQuietUDPWritesDoNotSignal(t *testing.T) {
	peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	to := peer.LocalAddr().(*net.UDPAddr).AddrPort()
	plain, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	q := quietListen(t, "udp4", "127.0.0.1:0")

	write := func(c net.PacketConn) {
		if _, err := c.WriteTo(make([]byte, 1000), net.UDPAddrFromAddrPort(to)); err != nil {
			t.Fatal(err)
		}
	}
	if n := writableEvents(t, plain, 20, write); n == 0 {
		t.Fatal("an ordinary UDP socket signalled no writability after 20 writes: the kernel behaves differently, the test proves nothing")
	}
	if n := writableEvents(t, q, 20, write); n != 0 {
		t.Fatalf("the quiet socket signalled writability %d times after 20 writes; want 0", n)
	}
}

// writableEvents registers c's descriptor with a new edge-triggered epoll
// (in and out, as Go's netpoller does), drains the initial events, makes
// count writes and returns how many EPOLLOUT events followed.
func writableEvents(t *testing.T, c net.PacketConn, count int, write func(net.PacketConn)) int {
	t.Helper()
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ep)
	sc, err := c.(interface {
		SyscallConn() (syscall.RawConn, error)
	}).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if cerr := sc.Control(func(fd uintptr) {
		err = unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, int(fd), &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLET, Fd: int32(fd)})
	}); cerr != nil || err != nil {
		t.Fatal(cerr, err)
	}
	events := make([]unix.EpollEvent, 8)
	if _, err := unix.EpollWait(ep, events, 0); err != nil { // the initial "writable"
		t.Fatal(err)
	}
	out := 0
	for range count {
		write(c)
		// The datagram is freed once loopback has delivered it; wait for
		// that (generously) before looking.
		n, err := unix.EpollWait(ep, events, 20)
		if err != nil && !errors.Is(err, unix.EINTR) {
			t.Fatal(err)
		}
		for _, e := range events[:max(n, 0)] {
			if e.Events&unix.EPOLLOUT != 0 {
				out++
			}
		}
	}
	return out
}
