package signal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/wstest"

	"github.com/gorilla/websocket"

	"github.com/videochat/videochat/signal/proto"
)

// The server's performance rests on a few invariants that no test of
// behaviour would notice losing. Each test here fails when one is lost;
// the benchmarks in bench_test.go measure the same things in numbers.

// maxStackPerIdlePeer bounds the goroutine stack an idle joined connection
// holds: its one goroutine, the reader, must stay on the runtime's initial
// 2 KiB stack (readLoop restarts it when its stack has grown, see
// stack.go; frames on the read path are kept small with //go:noinline).
// A grown stack is 4 KiB or more, so a new log line or a big local on the
// read path that makes it grow fails this test.
const maxStackPerIdlePeer = 3 << 10

// TestIdlePeerCost: an idle joined peer costs one goroutine and at most
// maxStackPerIdlePeer bytes of stack.
func TestIdlePeerCost(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector enlarges stacks; go test without -race checks this")
	}
	const peers, size = 400, 5
	goroutines := runtime.NumGoroutine()
	_, stacksBefore := memInUse()
	srv, addr, stop := benchServer(t, Config{})
	defer stop()
	rooms := joinRawRooms(t, addr, peers, size)
	drainJoins(t, rooms)
	// Every peer's last frame has been written; poll until each writer
	// has given its role back (an idle connection runs no writer).
	var stackPer, goroutinesPer float64
	for deadline := time.Now().Add(ioTimeout); ; {
		_, stacks := memInUse()
		stackPer = float64(int64(stacks)-int64(stacksBefore)) / peers
		goroutinesPer = float64(runtime.NumGoroutine()-goroutines) / peers
		if srv.Stats().Conns == peers && goroutinesPer < 1.05 && stackPer <= maxStackPerIdlePeer {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections, %.0f stack bytes and %.3f goroutines per idle peer; want %d, at most %d and 1",
				srv.Stats().Conns, stackPer, goroutinesPer, peers, maxStackPerIdlePeer)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%.0f stack bytes and %.3f goroutines per idle peer", stackPer, goroutinesPer)
}

// relayAllocBudget is what relaying one directed message on the fast path
// (read, splice, Deliver to an idle peer, direct write) may allocate in the
// server. Today it is two, both per message and both small:
//   - gorilla's NextReader allocates its messageReader (only a frame
//     reader of our own, issue 14 item 1, can remove it);
//   - spliceDirected's string(d.to): the target id, which Backend.Send
//     receives as a string an implementation may keep, so it must be a
//     copy of the reused read buffer.
//
// Everything else on the path (read buffer, spliced frame, queue, write
// batch) comes from pools. Lower the budget when one of the two goes.
const relayAllocBudget = 2

// TestRelayAllocs: relaying a directed message on the fast path allocates
// no more than relayAllocBudget per message. The test's raw clients
// allocate nothing themselves, so testing.AllocsPerRun counts the server.
func TestRelayAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own; go test without -race checks this")
	}
	_, addr, stop := benchServer(t, Config{})
	defer stop()
	room := joinRawRooms(t, addr, 2, 2)[0]
	drainJoins(t, [][]*rawPeer{room})
	a, b := room[0], room[1]
	m := proto.Message{Type: proto.TypeCandidate, To: b.id, Candidate: &proto.ICECandidate{
		Candidate: "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host", SDPMid: new("0")}}
	frame := wstest.ClientFrame(nil, proto.Encode(m))
	buf := make([]byte, 0, 512)
	prefix := []byte(`{"type":"candidate","from":"` + a.id + `"`)
	var failed error
	relay := func() {
		if _, err := a.nc.Write(frame); err != nil {
			failed = err
			return
		}
		op, payload, err := b.readFrame(buf)
		if err != nil || op != websocket.TextMessage || !bytes.HasPrefix(payload, prefix) {
			failed = err
			if failed == nil {
				failed = &json.SyntaxError{}
			}
			t.Errorf("relayed frame %q (op %d): %v", payload, op, err)
		}
	}
	for range 100 { // warm the pools
		relay()
	}
	allocs := testing.AllocsPerRun(1000, relay)
	if failed != nil {
		t.Fatalf("relay: %v", failed)
	}
	switch {
	case allocs > relayAllocBudget:
		t.Errorf("%.0f allocations per relayed message, budget %d: something on the relay path allocates now", allocs, relayAllocBudget)
	case allocs < relayAllocBudget:
		t.Logf("%.0f allocations per relayed message, budget %d: lower relayAllocBudget", allocs, relayAllocBudget)
	}
}

// TestOneWriterPerConnection drives every write path of one connection at
// once — relayed frames from several senders (the direct write and the
// writer goroutine), broadcasts (peers joining and leaving), error replies
// to its own bad messages, pings — and then shuts the server down (the
// close). Two writers at once would interleave bytes on the socket (a
// corrupt frame) or race on gorilla's state (the race detector fails the
// test: make test runs the signal package with -race).
func TestOneWriterPerConnection(t *testing.T) {
	ts := startTestServer(t, Config{
		MessageRate: Unlimited, MaxConnsPerIP: Unlimited, SendQueue: 4096,
		PingInterval: 5 * time.Millisecond, PongWait: 5 * time.Second,
	})
	defer ts.http.Close()
	target, _ := ts.join(t, "stress", "T")
	// Answer pings, and take a failed pong during the shutdown (the server
	// may have closed its socket after a ping) as no error of the server's.
	target.ws.SetPingHandler(func(data string) error {
		_ = target.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(ioTimeout))
		return nil
	})
	senders := make([]*client, 3)
	for i := range senders {
		senders[i], _ = ts.join(t, "stress", string(rune('A'+i)))
	}
	const perSender = 300
	write := func(c *client, frame []byte) {
		if err := c.ws.WriteMessage(websocket.TextMessage, frame); err != nil {
			t.Errorf("%s: write: %v", c.name, err)
		}
	}
	var wg sync.WaitGroup
	for _, s := range senders {
		wg.Go(func() {
			for i := range perSender { // numbered: frames from one sender keep their order
				write(s, proto.Encode(proto.Message{Type: proto.TypeOffer, To: target.id, SDP: fmt.Sprint("v=", i)}))
			}
		})
	}
	wg.Go(func() { // error replies, written on the target's own connection
		for range perSender {
			write(target, []byte(`{"type":"offer","to":"nobody","sdp":"x"}`))
		}
	})
	// The target reads until every offer and error arrived, meanwhile
	// peers come and go (broadcasts). Every frame must parse, and each
	// sender's offers arrive in the order sent (a second writer could
	// overtake the first).
	done := make(chan error, 1)
	go func() {
		offers, errs := 0, 0
		next := map[string]int{} // by sender: the number of its next offer
		for offers < perSender*len(senders) || errs < perSender {
			mt, data, err := target.ws.ReadMessage()
			if err != nil {
				done <- fmt.Errorf("after %d offers and %d errors: %w", offers, errs, err)
				return
			}
			var m proto.Message
			if mt != websocket.TextMessage || json.Unmarshal(data, &m) != nil {
				done <- fmt.Errorf("corrupt frame (type %d): %q", mt, data)
				return
			}
			switch m.Type {
			case proto.TypeOffer:
				if want := fmt.Sprint("v=", next[m.From]); m.SDP != want {
					done <- fmt.Errorf("offer from %s: %q, want %q (out of order)", m.From, m.SDP, want)
					return
				}
				next[m.From]++
				offers++
			case proto.TypeError:
				errs++
			}
		}
		done <- nil
	}()
	for churn := 0; ; churn++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			if churn == 0 {
				t.Error("no peer joined or left while the frames flowed")
			}
			wg.Wait()
			ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
			defer cancel()
			if err := ts.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			// Take the close without echoing it (the server may be gone).
			target.ws.SetCloseHandler(func(int, string) error { return nil })
			for { // whatever else is queued, then the close, all intact
				mt, data, err := target.ws.ReadMessage()
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					return
				}
				if err != nil || mt != websocket.TextMessage || !json.Valid(data) {
					t.Fatalf("after Shutdown: frame %q (type %d), %v; want frames, then a close", data, mt, err)
				}
			}
		default:
		}
		c, _ := ts.join(t, "stress", "tmp")
		c.send(proto.Message{Type: proto.TypeLeave})
		c.drop()
	}
}
