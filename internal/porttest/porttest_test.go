package porttest

import (
	"errors"
	"net"
	"syscall"
	"testing"
)

// TestReserve: a reserved port refuses connections, is never handed out
// by a bind to port 0, and can still be listened on by number.
func TestReserve(t *testing.T) {
	for _, how := range []string{"Free", "Reserve"} {
		t.Run(how, func(t *testing.T) {
			var addr string
			if how == "Free" {
				addr = Free(t)
			} else {
				ln, err := net.Listen("tcp4", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				addr = ln.Addr().String()
				_ = ln.Close()
				if err := Reserve(t, addr); err != nil {
					t.Fatal(err)
				}
			}
			if c, err := net.Dial("tcp4", addr); err == nil {
				c.Close()
				t.Fatalf("a connection to the reserved %s was accepted", addr)
			} else if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("dial %s: %v, want connection refused", addr, err)
			}
			// Many binds to port 0 (each released at once): none gets it.
			for range 30000 {
				ln, err := net.Listen("tcp4", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				got := ln.Addr().String()
				_ = ln.Close()
				if got == addr {
					t.Fatalf("a bind to port 0 got the reserved %s", addr)
				}
			}
			for range 2 { // a server, then its restart
				ln, err := net.Listen("tcp4", addr)
				if err != nil {
					t.Fatalf("listen on the reserved %s: %v", addr, err)
				}
				_ = ln.Close()
			}
		})
	}
}

// TestReserveUDP: a reserved UDP port is not handed out by a bind to port
// 0 nor bound by number, until it is released.
func TestReserveUDP(t *testing.T) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr := c.LocalAddr().String()
	_ = c.Close()
	release, err := ReserveUDP(t, addr)
	if err != nil {
		t.Fatal(err)
	}
	for range 30000 {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		got := c.LocalAddr().String()
		_ = c.Close()
		if got == addr {
			t.Fatalf("a bind to port 0 got the reserved %s", addr)
		}
	}
	if c, err := net.ListenPacket("udp4", addr); err == nil {
		c.Close()
		t.Fatalf("bound the reserved %s", addr)
	}
	release()
	c2, err := net.ListenPacket("udp4", addr)
	if err != nil {
		t.Fatalf("bind %s after release: %v", addr, err)
	}
	_ = c2.Close()
}
