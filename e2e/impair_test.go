package e2e

// impair_test.go: an impairing TURN relay for loss and delay tests. The
// test process runs its own pion TURN server (static credentials) whose
// relay sockets drop a fraction of the packets they send and delay the
// rest. Every packet between two relay-only peers leaves exactly one relay
// socket, so each direction sees the loss once and the round trip sees
// twice the delay. Test code only: the product's TURN server is untouched.

import (
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/turn/v5"
)

// impairment is what the relay does to each packet it sends.
type impairment struct {
	Loss  float64       // fraction dropped
	Delay time.Duration // added to every packet kept
	// Rate, when not 0, caps what the TURN server sends to its clients
	// (bits/s, a 400 ms drop-tail queue like tc's tbf): only the clients
	// that use the relay are behind it.
	Rate int
}

// startImpairedTURN runs the relay on 127.0.0.1 and returns the
// --ice-server value for `videochat serve`.
func startImpairedTURN(t *testing.T, imp impairment) string {
	t.Helper()
	const user, pass, realm = "impair", "impair", "videochat"
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listener := udp
	if imp.Rate > 0 {
		listener = newImpairedConn(udp, impairment{Rate: imp.Rate}, 0)
	}
	imp.Rate = 0 // the relay sockets only lose and delay
	gen := &impairingGenerator{RelayAddressGeneratorStatic: turn.RelayAddressGeneratorStatic{
		RelayAddress: net.ParseIP("127.0.0.1"), Address: "127.0.0.1",
	}, imp: imp, seed: 1}
	key := turn.GenerateAuthKey(user, realm, pass)
	srv, err := turn.NewServer(turn.ServerConfig{
		Realm: realm,
		AuthHandler: func(ra *turn.RequestAttributes) (string, []byte, bool) {
			return ra.Username, key, ra.Username == user
		},
		PacketConnConfigs: []turn.PacketConnConfig{{PacketConn: listener, RelayAddressGenerator: gen}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return fmt.Sprintf("turn:%s:%s@%s?transport=udp", user, pass, udp.LocalAddr())
}

// maxLinkQueue is the longest a packet waits behind a rate limit.
const maxLinkQueue = 400 * time.Millisecond

// impairingGenerator hands out relay sockets wrapped in impairedConn.
type impairingGenerator struct {
	turn.RelayAddressGeneratorStatic
	imp  impairment
	mu   sync.Mutex
	seed uint64
}

func (g *impairingGenerator) AllocatePacketConn(c turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	conn, addr, err := g.RelayAddressGeneratorStatic.AllocatePacketConn(c)
	if err != nil {
		return nil, nil, err
	}
	g.mu.Lock()
	g.seed++
	seed := g.seed
	g.mu.Unlock()
	return newImpairedConn(conn, g.imp, seed), addr, nil
}

// impairedConn drops and delays what is written to it. Delayed packets
// leave in order from one goroutine, which Close stops and waits for.
type impairedConn struct {
	net.PacketConn
	imp   impairment
	mu    sync.Mutex
	rng   *rand.Rand
	queue chan delayed
	free  time.Time // when the rate-limited link is free again (guarded by mu)
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

type delayed struct {
	due  time.Time
	b    []byte
	addr net.Addr
}

func newImpairedConn(c net.PacketConn, imp impairment, seed uint64) *impairedConn {
	ic := &impairedConn{PacketConn: c, imp: imp, rng: rand.New(rand.NewPCG(seed, 13)),
		queue: make(chan delayed, 4096), stop: make(chan struct{}), done: make(chan struct{})}
	go ic.run()
	return ic
}

func (c *impairedConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	now := time.Now()
	due := now.Add(c.imp.Delay)
	c.mu.Lock()
	drop := c.rng.Float64() < c.imp.Loss
	if c.imp.Rate > 0 && !drop {
		start := c.free
		if start.Before(now) {
			start = now
		}
		if start.Sub(now) > maxLinkQueue {
			drop = true // the queue is full: tail drop
		} else {
			c.free = start.Add(time.Duration(len(b)+28) * 8 * time.Second / time.Duration(c.imp.Rate))
			due = c.free.Add(c.imp.Delay)
		}
	}
	c.mu.Unlock()
	if drop {
		return len(b), nil
	}
	select {
	case c.queue <- delayed{due: due, b: append([]byte(nil), b...), addr: addr}:
	default: // queue full: the link drops it
	}
	return len(b), nil
}

func (c *impairedConn) run() {
	defer close(c.done)
	for {
		select {
		case <-c.stop:
			return
		case d := <-c.queue:
			if wait := time.Until(d.due); wait > 0 {
				select {
				case <-c.stop:
					return
				case <-time.After(wait):
				}
			}
			_, _ = c.PacketConn.WriteTo(d.b, d.addr)
		}
	}
}

func (c *impairedConn) Close() error {
	err := c.PacketConn.Close()
	c.once.Do(func() { close(c.stop) })
	<-c.done
	return err
}
