// Package impair is an impairing TURN relay for loss, delay and rate tests
// and benchmarks (e2e tests, videochat-bench net). It runs a pion TURN
// server (static credentials) whose relay sockets drop a fraction of the
// packets they send and delay the rest. Every packet between two
// relay-only peers leaves exactly one relay socket, so each direction sees
// the loss once and the round trip sees twice the delay.
//
// Test-bed code only: the product's TURN server is untouched, and nothing
// under cmd/videochat imports this package.
//
// Invariants: each impaired socket owns one goroutine that sends its
// delayed packets in order; Close stops and waits for it. The server's
// Close closes every socket.
package impair

import (
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/pion/turn/v5"
)

// Impairment is what the relay does to each packet it sends.
type Impairment struct {
	Loss  float64       // fraction dropped
	Delay time.Duration // added to every packet kept
	// Rate, when not 0, caps what the TURN server sends to its clients
	// (bits/s, a MaxQueue drop-tail queue like tc's tbf): only the clients
	// that use the relay are behind it.
	Rate int
}

// MaxQueue is the longest a packet waits behind a rate limit.
const MaxQueue = 400 * time.Millisecond

// Relay is a running impairing TURN server on 127.0.0.1.
type Relay struct {
	srv *turn.Server
	// ICEServer is the --ice-server value for `videochat serve`.
	ICEServer string
}

// Start runs the relay.
func Start(imp Impairment) (*Relay, error) {
	const user, pass, realm = "impair", "impair", "videochat"
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	listener := udp
	if imp.Rate > 0 {
		listener = newConn(udp, Impairment{Rate: imp.Rate}, 0)
	}
	imp.Rate = 0 // the relay sockets only lose and delay
	gen := &generator{RelayAddressGeneratorStatic: turn.RelayAddressGeneratorStatic{
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
		_ = listener.Close()
		return nil, err
	}
	return &Relay{srv: srv, ICEServer: fmt.Sprintf("turn:%s:%s@%s?transport=udp", user, pass, udp.LocalAddr())}, nil
}

// Close stops the server and its relay sockets.
func (r *Relay) Close() error { return r.srv.Close() }

// generator hands out relay sockets wrapped in conn.
type generator struct {
	turn.RelayAddressGeneratorStatic
	imp  Impairment
	mu   sync.Mutex
	seed uint64
}

func (g *generator) AllocatePacketConn(c turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	pc, addr, err := g.RelayAddressGeneratorStatic.AllocatePacketConn(c)
	if err != nil {
		return nil, nil, err
	}
	g.mu.Lock()
	g.seed++
	seed := g.seed
	g.mu.Unlock()
	return newConn(pc, g.imp, seed), addr, nil
}

// conn drops and delays what is written to it. Delayed packets leave in
// order from one goroutine, which Close stops and waits for.
type conn struct {
	net.PacketConn
	imp   Impairment
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

func newConn(c net.PacketConn, imp Impairment, seed uint64) *conn {
	ic := &conn{PacketConn: c, imp: imp, rng: rand.New(rand.NewPCG(seed, 13)),
		queue: make(chan delayed, 4096), stop: make(chan struct{}), done: make(chan struct{})}
	go ic.run()
	return ic
}

func (c *conn) WriteTo(b []byte, addr net.Addr) (int, error) {
	now := time.Now()
	due := now.Add(c.imp.Delay)
	c.mu.Lock()
	drop := c.rng.Float64() < c.imp.Loss
	if c.imp.Rate > 0 && !drop {
		start := c.free
		if start.Before(now) {
			start = now
		}
		if start.Sub(now) > MaxQueue {
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

func (c *conn) run() {
	defer close(c.done)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case d := <-c.queue:
			if wait := time.Until(d.due); wait > 0 {
				t.Reset(wait)
				select {
				case <-c.stop:
					return
				case <-t.C:
				}
			}
			_, _ = c.PacketConn.WriteTo(d.b, d.addr)
		}
	}
}

func (c *conn) Close() error {
	err := c.PacketConn.Close()
	c.once.Do(func() { close(c.stop) })
	<-c.done
	return err
}
