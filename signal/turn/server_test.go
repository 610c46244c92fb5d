package turn_test

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/videochat/videochat/signal/turn"
)

func TestAllocateWithValidCredentials(t *testing.T) {
	s := startTURN(t, false)
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			user, pass := turn.Credentials(testSecret, "peer-"+network, time.Minute, time.Now())
			relay, err := dial(t, s, network, user, pass).Allocate()
			if err != nil {
				t.Fatalf("allocate: %v", err)
			}
			defer relay.Close()
			addr := relay.LocalAddr().(*net.UDPAddr)
			if !addr.IP.Equal(net.IPv4(127, 0, 0, 1)) || addr.Port == 0 {
				t.Errorf("relay address %v, want 127.0.0.1:<port>", addr)
			}
			if n := s.Allocations(); n < 1 {
				t.Errorf("Allocations() = %d after an allocation", n)
			}
		})
	}
}

func TestRefusedCredentials(t *testing.T) {
	s := startTURN(t, true)
	now := time.Now()
	expiredUser, expiredPass := turn.Credentials(testSecret, "alice", -time.Second, now)
	goodUser, _ := turn.Credentials(testSecret, "alice", time.Minute, now)
	_, otherSecretPass := turn.Credentials([]byte("other"), "alice", time.Minute, now)
	unknown := "alice"
	tests := []struct{ name, user, pass string }{
		{"expired", expiredUser, expiredPass},
		{"wrong HMAC", goodUser, "AAAAAAAAAAAAAAAAAAAAAAAAAAA="},
		{"other secret", goodUser, otherSecretPass},
		{"unknown user", unknown, turn.Password(testSecret, unknown)},
		{"malformed user", "12x:alice", turn.Password(testSecret, "12x:alice")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dial(t, s, "udp", tc.user, tc.pass).Allocate()
			if err == nil {
				t.Fatal("allocation succeeded")
			}
			if !strings.Contains(err.Error(), "401") {
				t.Errorf("error %q, want a 401", err)
			}
		})
	}
	if n := s.Allocations(); n != 0 {
		t.Errorf("Allocations() = %d after refused attempts", n)
	}
}

// TestPrivatePeerRefused: without AllowPrivate the server refuses the
// permission to a loopback peer, and nothing flows either way.
func TestPrivatePeerRefused(t *testing.T) {
	s := startTURN(t, false)
	relay := allocate(t, s, "alice")
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()

	if _, err := relay.WriteTo([]byte("to loopback"), peer.LocalAddr()); err == nil {
		t.Error("write to a loopback peer through the relay succeeded, want a refused permission")
	} else {
		t.Logf("write refused: %v", err)
	}
	if _, err := peer.WriteTo([]byte("from loopback"), relay.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	// Negative checks: nothing may arrive within a generous window.
	if b, from, err := readWithin(peer, 500*time.Millisecond); !isTimeout(err) {
		t.Errorf("loopback peer got %q from %v (err %v) through the relay", b, from, err)
	}
	if b, from, err := readWithin(relay, 500*time.Millisecond); !isTimeout(err) {
		t.Errorf("client got %q from %v (err %v) from a loopback peer", b, from, err)
	}
}

// TestRelayBetweenClients: with AllowPrivate two clients exchange data
// through their relays on 127.0.0.1.
func TestRelayBetweenClients(t *testing.T) {
	s := startTURN(t, true)
	a := allocate(t, s, "alice")
	b := allocate(t, s, "bob")
	// b's write creates b's permission for a; a's writes then reach b.
	if _, err := b.WriteTo([]byte("hello a"), a.LocalAddr()); err != nil {
		t.Fatalf("b → a: %v", err)
	}
	want := []byte("hello b via relay")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := a.WriteTo(want, b.LocalAddr()); err != nil {
			t.Fatalf("a → b: %v", err)
		}
		got, from, err := readWithin(b, 200*time.Millisecond)
		if err == nil {
			if !bytes.Equal(got, want) || from.String() != a.LocalAddr().String() {
				t.Fatalf("b got %q from %v, want %q from %v", got, from, want, a.LocalAddr())
			}
			break
		}
		if !isTimeout(err) || time.Now().After(deadline) {
			t.Fatalf("b read: %v", err)
		}
	}
	if n := s.Allocations(); n != 2 {
		t.Errorf("Allocations() = %d, want 2", n)
	}
}

func TestCloseEndsConnections(t *testing.T) {
	s := startTURN(t, true)
	user, pass := turn.Credentials(testSecret, "tcp-peer", time.Minute, time.Now())
	relay, err := dial(t, s, "tcp", user, pass).Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := s.Allocations(); n != 0 {
		t.Errorf("Allocations() = %d after Close", n)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestAllocationOutlivesCredentials: credentials bound when an allocation
// may be made, not how long it lives. After they expire, the client still
// creates permissions (as ICE does every few minutes) and relays, while a
// new allocation with them is refused.
func TestAllocationOutlivesCredentials(t *testing.T) {
	s := startTURN(t, true)
	const ttl = time.Second
	user, pass := turn.Credentials(testSecret, "long-call", ttl, time.Now())
	c := dial(t, s, "udp", user, pass)
	relay, err := c.Allocate()
	if err != nil {
		t.Fatalf("allocate: %v", err)
	}
	defer relay.Close()
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()

	time.Sleep(ttl + 100*time.Millisecond) // not a synchronisation: the credentials expire with time

	// The first write to a new peer address creates a permission, an
	// authenticated request made with the expired credentials.
	if _, err := relay.WriteTo([]byte("after expiry"), peer.LocalAddr()); err != nil {
		t.Fatalf("write through the relay after the credentials expired: %v", err)
	}
	got, from, err := readWithin(peer, 10*time.Second)
	if err != nil || string(got) != "after expiry" || from.String() != relay.LocalAddr().String() {
		t.Fatalf("peer got %q from %v (%v), want the relayed datagram", got, from, err)
	}
	if _, err := dial(t, s, "udp", user, pass).Allocate(); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("new allocation with expired credentials: %v, want a 401", err)
	}
}
