// Package porttest keeps loopback ports (TCP; UDP with ReserveUDP) for a
// test while no server of the test is on them.
//
// Other processes on the machine (other test binaries, browsers) bind
// loopback ports all the time. A port that a test's server closed and will
// reuse (a restart on the same address), or that a peer under test keeps
// dialling (a server that must stay gone), can meanwhile be handed to one
// of them by a bind to port 0: the restart then fails with "address in
// use", or the peer reconnects to a stranger's signalling server.
//
// A reserved TCP port has a socket bound to it that never listens, with
// SO_REUSEADDR, until the test ends. The kernel does not pick such a port
// for a bind to port 0; a connection to it is refused while nothing
// listens; and a server that binds it by number with SO_REUSEADDR (as Go's
// net.Listen does, so this test's own restart) still can.
//
// Linux and other Unix systems only (raw socket calls).
package porttest

import (
	"fmt"
	"net"
	"sync"
	"syscall"
	"testing"
)

// Reserve keeps addr (an IPv4 host:port) reserved until tb ends. Call it
// once the server there has closed its listener. It fails if something
// else listens there already.
func Reserve(tb testing.TB, addr string) error {
	ta, err := net.ResolveTCPAddr("tcp4", addr)
	if err != nil {
		return fmt.Errorf("reserve %s: %w", addr, err)
	}
	if _, err := bind(tb, ta); err != nil {
		return fmt.Errorf("reserve %s: %w", addr, err)
	}
	return nil
}

// ReserveUDP keeps the UDP port of addr (an IPv4 host:port) from other
// processes until release is called or tb ends: a UDP server (Go sets no
// SO_REUSEADDR on those) binds it only after release, so call release
// right before restarting the server there. It fails if the port is
// taken already.
func ReserveUDP(tb testing.TB, addr string) (release func(), err error) {
	ua, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		return nil, fmt.Errorf("reserve udp %s: %w", addr, err)
	}
	c, err := net.ListenUDP("udp4", ua)
	if err != nil {
		return nil, fmt.Errorf("reserve udp %s: %w", addr, err)
	}
	var once sync.Once
	release = func() { once.Do(func() { _ = c.Close() }) }
	tb.Cleanup(release)
	return release, nil
}

// Free returns a loopback address (127.0.0.1:port) reserved until tb ends,
// for a server, in this process or a child, to listen on by number.
func Free(tb testing.TB) string {
	tb.Helper()
	a, err := bind(tb, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatalf("reserve a loopback port: %v", err)
	}
	return a
}

// bind binds a TCP socket to ta with SO_REUSEADDR, closes it when tb
// ends, and returns the address it got.
func bind(tb testing.TB, ta *net.TCPAddr) (string, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("socket: %w", err)
	}
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		_ = syscall.Close(fd)
		return "", fmt.Errorf("SO_REUSEADDR: %w", err)
	}
	sa := &syscall.SockaddrInet4{Port: ta.Port}
	copy(sa.Addr[:], ta.IP.To4())
	if err := syscall.Bind(fd, sa); err != nil {
		_ = syscall.Close(fd)
		return "", fmt.Errorf("bind: %w", err)
	}
	got, err := syscall.Getsockname(fd)
	if err != nil {
		_ = syscall.Close(fd)
		return "", fmt.Errorf("getsockname: %w", err)
	}
	tb.Cleanup(func() { _ = syscall.Close(fd) })
	g := got.(*syscall.SockaddrInet4)
	return net.JoinHostPort(net.IP(g.Addr[:]).String(), fmt.Sprint(g.Port)), nil
}
