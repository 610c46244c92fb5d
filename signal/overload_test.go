package signal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/videochat/videochat/signal/proto"
)

// dialJoin connects to room and joins as name; unlike ts.join it returns
// errors, for use from goroutines.
func (ts *testServer) dialJoin(room, name string) (*websocket.Conn, proto.Message, error) {
	return ts.dialJoinWith(websocket.Dialer{HandshakeTimeout: ioTimeout}, room, name)
}

// smallBufferDialer dials with a small socket send buffer, so that a
// client writing faster than the server reads blocks soon, as a remote
// attacker's writes would, instead of burning this process's CPU to fill
// megabytes of loopback buffers.
func smallBufferDialer() websocket.Dialer {
	return websocket.Dialer{
		HandshakeTimeout: ioTimeout,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetWriteBuffer(16 << 10)
			}
			return c, err
		},
	}
}

func (ts *testServer) dialJoinWith(d websocket.Dialer, room, name string) (*websocket.Conn, proto.Message, error) {
	ws, resp, err := d.Dial(ts.wsURL(room), nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, proto.Message{}, err
	}
	_ = ws.SetWriteDeadline(time.Now().Add(ioTimeout))
	join := proto.Encode(proto.Message{Type: proto.TypeJoin, Version: proto.Version, Name: name})
	if err := ws.WriteMessage(websocket.TextMessage, join); err != nil {
		ws.Close()
		return nil, proto.Message{}, err
	}
	_ = ws.SetReadDeadline(time.Now().Add(ioTimeout))
	m, err := readMsg(ws)
	if err == nil && m.Type != proto.TypeWelcome {
		err = fmt.Errorf("join answered with %+v", m)
	}
	if err != nil {
		ws.Close()
		return nil, proto.Message{}, err
	}
	_ = ws.SetReadDeadline(time.Time{})
	return ws, m, nil
}

func readMsg(ws *websocket.Conn) (proto.Message, error) {
	_, data, err := ws.ReadMessage()
	if err != nil {
		return proto.Message{}, err
	}
	var m proto.Message
	return m, json.Unmarshal(data, &m)
}

// heapSampler records the largest HeapInuse seen until stopped.
type heapSampler struct {
	stop chan struct{}
	done chan uint64
}

func sampleHeap(every time.Duration) *heapSampler {
	h := &heapSampler{stop: make(chan struct{}), done: make(chan uint64, 1)}
	go func() {
		var peak uint64
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-h.stop:
				h.done <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return h
}

func (h *heapSampler) peak() uint64 {
	close(h.stop)
	return <-h.done
}

func heapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

const mib = 1 << 20

// TestSlowConsumerMemoryBounded: round after round a peer that never reads
// is flooded with 32 KiB frames until it is evicted. The server's heap
// grows by at most about one send queue of frames per slow peer, and
// returns to where it was afterwards.
func TestSlowConsumerMemoryBounded(t *testing.T) {
	const rounds, frameSize = 5, 32 << 10
	ts := newTestServer(t, Config{MessageRate: Unlimited, MaxConnsPerIP: Unlimited})
	flood, _ := ts.join(t, "r", "Flood")
	base := heapInuse()
	sampler := sampleHeap(20 * time.Millisecond)
	frame := []byte(nil)
	total := 0
	for round := range rounds {
		slow, _ := ts.join(t, "r", fmt.Sprintf("Slow%d", round))
		flood.expectPeer(proto.TypePeerJoined, slow)
		frame = proto.Encode(proto.Message{Type: proto.TypeCandidate, To: slow.id,
			Candidate: &proto.ICECandidate{Candidate: strings.Repeat("c", frameSize)}})
		total += floodUntilEvicted(t, flood, slow, frame)
		slow.ws.Close()
	}
	peak := sampler.peak()
	after := heapInuse()
	bound := uint64(DefaultSendQueue*len(frame)) + 24*mib
	t.Logf("heap in use: base %.1f MiB, peak %.1f MiB (+%.1f), after %.1f MiB; %d frames of %d KiB sent in %d rounds; bound +%.1f MiB",
		float64(base)/mib, float64(peak)/mib, float64(peak-base)/mib, float64(after)/mib, total, len(frame)>>10, rounds, float64(bound)/mib)
	if peak > base+bound {
		t.Errorf("peak heap %.1f MiB over base %.1f MiB, bound +%.1f MiB", float64(peak)/mib, float64(base)/mib, float64(bound)/mib)
	}
	if after > base+8*mib {
		t.Errorf("heap after the flood %.1f MiB, base %.1f MiB", float64(after)/mib, float64(base)/mib)
	}
	if st := ts.Stats(); st.Evictions != rounds || st.Held != 0 {
		t.Errorf("stats %+v, want %d evictions and nothing held", st, rounds)
	}
}

// floodUntilEvicted sends frame from flood until the server evicts slow,
// and returns the number of frames sent.
func floodUntilEvicted(t *testing.T, flood, slow *client, frame []byte) int {
	t.Helper()
	stop := make(chan struct{})
	sent := flood.writeUntil(frame, math.MaxInt, stop)
	for {
		m := flood.read()
		if m.Type == proto.TypeError && m.Code == proto.CodeUnknownPeer {
			continue
		}
		if m.Type != proto.TypePeerLeft || m.Peer == nil || m.Peer.ID != slow.id {
			t.Fatalf("flooder got %+v, want peer-left for the slow peer", m)
		}
		break
	}
	close(stop)
	n := <-sent
	// Drain the unknown-peer errors for frames sent after the eviction;
	// the probe's answer comes after all of them.
	flood.offer("0000000000000000", "probe")
	for m := flood.read(); m.Type != proto.TypeError || m.To != "0000000000000000"; m = flood.read() {
	}
	return n
}

// floodStats counts what the flooders saw.
type floodStats struct {
	sent, rateLimited, closes, rejoins atomic.Int64
}

// flooder joins room and blasts candidates at a room-mate until stop is
// closed; whenever the server closes it, it joins again.
func (ts *testServer) flooder(room, name string, stop <-chan struct{}, st *floodStats) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		ws, w, err := ts.dialJoinWith(smallBufferDialer(), room, name)
		if err != nil {
			continue // e.g. the room was briefly full with rejoining flooders
		}
		st.rejoins.Add(1)
		floodOnce(ws, w, stop, st)
	}
}

// floodOnce floods on one connection until it ends or stop is closed.
func floodOnce(ws *websocket.Conn, w proto.Message, stop <-chan struct{}, st *floodStats) {
	var target atomic.Value
	target.Store("0000000000000000")
	if len(w.Peers) > 0 {
		target.Store(w.Peers[0].ID)
	}
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		_ = ws.SetReadDeadline(time.Now().Add(time.Minute))
		for {
			m, err := readMsg(ws)
			if err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) && ce.Code == websocket.ClosePolicyViolation {
					st.closes.Add(1)
				}
				return
			}
			switch {
			case m.Type == proto.TypePeerJoined:
				target.Store(m.Peer.ID)
			case m.Type == proto.TypeError && m.Code == proto.CodeRateLimited:
				st.rateLimited.Add(1)
			}
		}
	}()
	cand := &proto.ICECandidate{Candidate: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host"}
	to, f := "", []byte(nil)
	for {
		select {
		case <-stop:
		case <-readerDone:
		default:
			_ = ws.SetWriteDeadline(time.Now().Add(ioTimeout))
			if t := target.Load().(string); t != to {
				to, f = t, proto.Encode(proto.Message{Type: proto.TypeCandidate, To: t, Candidate: cand})
			}
			if ws.WriteMessage(websocket.TextMessage, f) == nil {
				st.sent.Add(1)
				continue
			}
		}
		break
	}
	// Leave with a close frame and wait for the server's answer (or its
	// own close), so that the server does not hold the session for a
	// resume.
	_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	<-readerDone
	ws.Close()
}

// TestOverload: 50 peers in 10 rooms flood the server as fast as they can
// for a few seconds, rejoining whenever they are thrown out. Meanwhile a
// new room can still be joined and relays promptly; the flood is shed by
// the rate limit; afterwards a new room works and the goroutines are back
// to where they were.
func TestOverload(t *testing.T) {
	const flooders, rooms, duration = 50, 10, 3 * time.Second
	// The flooders run in this process and share its two CPUs with the
	// server, and a loaded CI machine adds its own delays (a 1 s bound
	// failed at load 50), so the bound only catches a stall: the failure
	// this test exists for, a router and a queue waiting on each other for
	// good. How fast a join and relay are under load is measured by
	// `videochat bench signal` (BENCHMARKS.md), not here.
	maxLatency := 5 * time.Second
	if raceEnabled {
		maxLatency = 20 * time.Second
	}
	baseGoroutines := runtime.NumGoroutine()
	ts := startTestServer(t, Config{MaxConnsPerIP: Unlimited, MaxPeers: flooders / rooms})

	stop := make(chan struct{})
	var st floodStats
	var wg sync.WaitGroup
	for i := range flooders {
		wg.Go(func() { ts.flooder(fmt.Sprintf("flood-%d", i%rooms), "F", stop, &st) })
	}
	var worst time.Duration
	probes := 0
	for start := time.Now(); time.Since(start) < duration; probes++ {
		worst = max(worst, ts.probe(t, fmt.Sprintf("probe-%d", probes)))
	}
	close(stop)
	wg.Wait()
	stats := ts.Stats()
	t.Logf("%d probes during the flood, slowest join+relay %v; flooders sent %d frames, got %d rate-limited errors, "+
		"%d closes (1008), %d joins; server dropped %d, closed %d for rate, evicted %d",
		probes, worst, st.sent.Load(), st.rateLimited.Load(), st.closes.Load(), st.rejoins.Load(),
		stats.Dropped, stats.RateLimitCloses, stats.Evictions)
	if worst > maxLatency {
		t.Errorf("a probe took %v during the flood, want under %v", worst, maxLatency)
	}
	if stats.Dropped == 0 || stats.RateLimitCloses == 0 || st.rateLimited.Load() == 0 {
		t.Errorf("the flood was not shed: %+v", stats)
	}
	// Recovery: a new room works at once, and nothing is left over.
	if d := ts.probe(t, "after"); d > maxLatency {
		t.Errorf("probe after the flood took %v", d)
	}
	waitFor(t, "flood connections closed", func() bool { return ts.Stats().Conns == 0 })
	if st := ts.Stats(); st.Held != 0 {
		t.Errorf("%d sessions held after clients closed cleanly", st.Held)
	}
	shutdown(t, ts)
	waitFor(t, "goroutines back to baseline", func() bool { return runtime.NumGoroutine() <= baseGoroutines })
}

// probe joins two peers in room, relays one offer between them and returns
// how long that took. Both leave again.
func (ts *testServer) probe(t *testing.T, room string) time.Duration {
	t.Helper()
	start := time.Now()
	a, _, err := ts.dialJoin(room, "ProbeA")
	if err != nil {
		t.Fatalf("probe join: %v", err)
	}
	defer a.Close()
	b, wb, err := ts.dialJoin(room, "ProbeB")
	if err != nil {
		t.Fatalf("probe join: %v", err)
	}
	defer b.Close()
	_ = b.SetWriteDeadline(time.Now().Add(ioTimeout))
	if err := b.WriteMessage(websocket.TextMessage, proto.Encode(proto.Message{Type: proto.TypeOffer, To: wb.Peers[0].ID, SDP: "probe"})); err != nil {
		t.Fatal(err)
	}
	_ = a.SetReadDeadline(time.Now().Add(ioTimeout))
	for {
		m, err := readMsg(a)
		if err != nil {
			t.Fatalf("probe read: %v", err)
		}
		if m.Type == proto.TypeOffer && m.SDP == "probe" {
			break
		}
	}
	d := time.Since(start)
	for _, ws := range []*websocket.Conn{a, b} {
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(ioTimeout))
	}
	return d
}
