package peer_test

// reserve_test.go: holding a TCP port that nothing listens on.
//
// A test that stops its server and expects the peer to find nobody there
// must keep the port from being taken by another process's server (other
// test binaries run on the same machine and bind loopback ports too): a
// signalling server on the reused port would welcome the reconnecting
// peer. A socket bound to the port but never listening keeps it: the
// kernel hands out no ephemeral port that has a bound socket, and a
// connection to it is refused as before.

import (
	"net"
	"syscall"
	"testing"
)

// reservePort binds a TCP socket to addr (host:port, IPv4) without
// listening, until the test ends. Without SO_REUSEADDR no other socket
// can bind the port at all; if the server that just closed there left
// TIME_WAIT connections, such a bind is refused and the socket binds with
// SO_REUSEADDR instead (then an explicit bind of that very port could
// still succeed, but no bind to port 0 picks it).
func reservePort(t *testing.T, addr string) {
	t.Helper()
	ta, err := net.ResolveTCPAddr("tcp4", addr)
	if err != nil {
		t.Fatalf("reserve %s: %v", addr, err)
	}
	sa := &syscall.SockaddrInet4{Port: ta.Port}
	copy(sa.Addr[:], ta.IP.To4())
	bind := func(reuse bool) (int, error) {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			return -1, err
		}
		if reuse {
			err = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
		}
		if err == nil {
			err = syscall.Bind(fd, sa)
		}
		if err != nil {
			_ = syscall.Close(fd)
			return -1, err
		}
		return fd, nil
	}
	fd, err := bind(false)
	if err == syscall.EADDRINUSE {
		fd, err = bind(true)
	}
	if err != nil {
		t.Fatalf("reserve %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
}
