package turn_test

import (
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	pionturn "github.com/pion/turn/v5"

	"github.com/videochat/videochat/signal/turn"
)

var testSecret = []byte("test-secret")

// startTURN starts a TURN server on 127.0.0.1 with free ports; it closes in
// t's cleanup.
func startTURN(t *testing.T, allowPrivate bool) *turn.Server {
	t.Helper()
	s, err := turn.New(turn.Config{
		ListenUDP:    "127.0.0.1:0",
		ListenTCP:    "127.0.0.1:0",
		Secret:       testSecret,
		AllowPrivate: allowPrivate,
		Logger:       slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

// client is a pion TURN client over UDP or TCP to s.
type client struct {
	*pionturn.Client
	conn net.PacketConn
}

// dial connects a TURN client to s over network ("udp" or "tcp"); it
// closes in t's cleanup.
func dial(t *testing.T, s *turn.Server, network, user, pass string) *client {
	t.Helper()
	udp, tcp := s.Addrs()
	var conn net.PacketConn
	server := udp.String()
	if network == "tcp" {
		server = tcp.String()
		c, err := net.Dial("tcp4", server)
		if err != nil {
			t.Fatal(err)
		}
		conn = pionturn.NewSTUNConn(c)
	} else {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		conn = c
	}
	c, err := pionturn.NewClient(&pionturn.ClientConfig{
		STUNServerAddr: server,
		TURNServerAddr: server,
		Conn:           conn,
		Username:       user,
		Password:       pass,
		Realm:          turn.DefaultRealm,
		RTO:            200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		_ = conn.Close()
	})
	return &client{Client: c, conn: conn}
}

// allocate makes a client with valid credentials and allocates a relay.
func allocate(t *testing.T, s *turn.Server, peerID string) net.PacketConn {
	t.Helper()
	user, pass := turn.Credentials(testSecret, peerID, time.Minute, time.Now())
	relay, err := dial(t, s, "udp", user, pass).Allocate()
	if err != nil {
		t.Fatalf("allocate as %s: %v", peerID, err)
	}
	t.Cleanup(func() { _ = relay.Close() })
	return relay
}

// readWithin reads one datagram from pc within d.
func readWithin(pc net.PacketConn, d time.Duration) ([]byte, net.Addr, error) {
	if err := pc.SetReadDeadline(time.Now().Add(d)); err != nil {
		return nil, nil, err
	}
	buf := make([]byte, 1500)
	n, from, err := pc.ReadFrom(buf)
	if err != nil {
		return nil, nil, err
	}
	return buf[:n], from, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
