package signalbench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// errNoWelcome: the server closed or did not answer the join in time.
var errNoWelcome = errors.New("no welcome")

// wsURL turns the target's http base URL into the WebSocket URL of room.
func wsURL(base, room string) string {
	base = strings.TrimSuffix(base, "/")
	switch {
	case strings.HasPrefix(base, "https://"):
		base = "wss://" + strings.TrimPrefix(base, "https://")
	case strings.HasPrefix(base, "http://"):
		base = "ws://" + strings.TrimPrefix(base, "http://")
	}
	return base + "/ws/" + room
}

// connect dials room, sends a join and waits for the welcome. It returns
// the joined peer and the time from the join frame to the welcome.
func (b *bench) connect(ctx context.Context, idx int, room string) (*peer, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.JoinTimeout)
	defer cancel()
	d := *b.dialer
	d.NetDialContext = (&net.Dialer{LocalAddr: b.sourceAddr(idx)}).DialContext
	ws, _, err := d.DialContext(ctx, wsURL(b.target.URL, room), nil)
	if err != nil {
		return nil, 0, fmt.Errorf("dial: %w", err)
	}
	p := &peer{idx: idx, room: room, ws: ws, nc: ws.NetConn(),
		welcome: make(chan string, 1), done: make(chan struct{})}
	p.alive.Store(true)
	b.readers.Add(1)
	go func() {
		defer b.readers.Done()
		p.readLoop(b.rec)
	}()
	start := time.Now()
	if err := p.write(joinFrame(idx)); err != nil {
		p.close()
		return nil, 0, fmt.Errorf("join: %w", err)
	}
	select {
	case id := <-p.welcome:
		p.id = id
		return p, time.Since(start), nil
	case <-p.done:
	case <-ctx.Done():
	}
	p.close()
	return nil, 0, errNoWelcome
}

// joinAll connects and joins every peer with JoinConcurrency joins in
// flight; the peers that joined are kept in b.peers.
func (b *bench) joinAll(ctx context.Context) JoinReport {
	var lat Histogram
	jobs := make(chan int)
	var mu sync.Mutex
	var failed int
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for range b.cfg.JoinConcurrency {
		wg.Go(func() {
			for i := range jobs {
				p, d, err := b.connect(ctx, i, b.roomOf(i))
				mu.Lock()
				if err != nil {
					failed++
					if firstErr == nil {
						firstErr = err
					}
				} else {
					b.peers[i] = p
					lat.Record(d)
				}
				mu.Unlock()
			}
		})
	}
feed:
	for i := range b.cfg.Peers {
		select {
		case jobs <- i:
		case <-ctx.Done():
			failed += b.cfg.Peers - i
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	secs := time.Since(start).Seconds()
	if firstErr != nil {
		b.note("%d joins failed, the first with: %v", failed, firstErr)
	}
	n := int(lat.Count())
	return JoinReport{Connected: n, Failed: failed, Seconds: secs, PerSecond: float64(n) / secs,
		Concurrency: b.cfg.JoinConcurrency, Latency: latencyOf(&lat)}
}

// probe joins Probes peers one at a time, each alone in its own room, and
// closes each right after its welcome.
func (b *bench) probe(ctx context.Context) Latency {
	var lat Histogram
	for i := range max(b.cfg.Probes, 0) {
		p, d, err := b.connect(ctx, b.cfg.Peers+i, b.cfg.RoomPrefix+"probe-"+strconv.Itoa(i))
		if err != nil {
			if ctx.Err() == nil {
				b.note("join probe %d failed: %v", i, err)
			}
			break
		}
		lat.Record(d)
		p.close()
	}
	return latencyOf(&lat)
}

// sourceAddr is the local address peer idx connects from: PeersPerAddr
// peers share each loopback address 127.0.x.y, like clients behind
// different addresses (the server caps connections per address), which
// also keeps each address well within its ephemeral ports.
func (b *bench) sourceAddr(idx int) *net.TCPAddr {
	n := idx/b.cfg.PeersPerAddr + 2 // 127.0.0.2 onwards
	return &net.TCPAddr{IP: net.IPv4(127, byte(n>>16), byte(n>>8), byte(n))}
}

// roomOf names the room of peer i.
func (b *bench) roomOf(i int) string {
	return b.cfg.RoomPrefix + strconv.Itoa(i/b.cfg.RoomSize)
}

// newDialer returns the generator's WebSocket dialer: small read buffers
// and no write buffer kept per connection (writes bypass gorilla).
func newDialer() *websocket.Dialer {
	return &websocket.Dialer{
		HandshakeTimeout: DefaultJoinTimeout,
		ReadBufferSize:   1024,
		WriteBufferPool:  &sync.Pool{},
	}
}
