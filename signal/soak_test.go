package signal

import (
	"flag"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/videochat/videochat/signal/proto"
)

// soakDuration is how long TestSoak exchanges messages: short by default,
// 60 s for the full run (go test -run TestSoak ./signal/ -soak=60s).
var soakDuration = flag.Duration("soak", 5*time.Second, "duration of TestSoak's message exchange")

// soakPeer is one of TestSoak's peers. Its sender goroutine owns next and
// sent; its reader goroutine owns got.
type soakPeer struct {
	ws    *websocket.Conn
	id    string
	mates []string
	sent  map[string]int // messages sent to each mate
	got   map[string]int // messages received from each peer (= last seq)
	bad   []string       // what went wrong, as seen by the reader
	done  chan struct{}  // closed when the reader returns
}

// TestSoak: 200 peers in 50 rooms each send 10 messages a second to their
// room-mates in turn. Every message arrives exactly once and in order per
// pair, and the goroutines return to their baseline afterwards.
func TestSoak(t *testing.T) {
	const rooms, perRoom, rate = 50, 4, 10
	baseGoroutines := runtime.NumGoroutine()
	ts := startTestServer(t, Config{MaxConnsPerIP: Unlimited})
	peers := joinSoakRooms(t, ts, rooms, perRoom)
	for _, p := range peers {
		go p.read()
	}

	start := time.Now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, p := range peers {
		wg.Go(func() { p.send(rate, stop) })
	}
	time.Sleep(*soakDuration) // the length of the run, not synchronisation
	close(stop)
	wg.Wait()
	elapsed := time.Since(start)

	total := 0
	for _, p := range peers {
		for _, n := range p.sent {
			total += n
		}
	}
	// Each peer's last message to a mate is a sentinel offer "end"; once
	// every reader has seen all of them, everything sent has arrived.
	for _, p := range peers {
		p.sendEnd(t)
	}
	waitFor(t, "all messages delivered", func() bool {
		for _, p := range peers {
			select {
			case <-p.done:
			default:
				return false
			}
		}
		return true
	})
	lost := 0
	for _, p := range peers {
		for _, b := range p.bad {
			t.Error(b)
		}
		for _, mate := range p.mates {
			lost += p.sent[mate] - peerByID(peers, mate).got[p.id]
		}
	}
	t.Logf("%d peers in %d rooms relayed %d messages in %v (%.0f/s); lost %d",
		len(peers), rooms, total, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds(), lost)
	if lost != 0 {
		t.Errorf("%d messages lost", lost)
	}
	// How many messages a loaded machine manages to send is a benchmark
	// figure (logged above); the test asks only that every peer took part.
	for _, p := range peers {
		n := 0
		for _, k := range p.sent {
			n += k
		}
		if n == 0 {
			t.Errorf("peer %s sent nothing", p.id)
		}
	}
	for _, p := range peers {
		p.ws.Close()
	}
	shutdown(t, ts)
	waitFor(t, "goroutines back to baseline", func() bool { return runtime.NumGoroutine() <= baseGoroutines })
}

func joinSoakRooms(t *testing.T, ts *testServer, rooms, perRoom int) []*soakPeer {
	t.Helper()
	var peers []*soakPeer
	for r := range rooms {
		room := fmt.Sprintf("soak-%d", r)
		var inRoom []*soakPeer
		for i := range perRoom {
			ws, w, err := ts.dialJoin(room, fmt.Sprintf("P%d", i))
			if err != nil {
				t.Fatalf("join %s: %v", room, err)
			}
			inRoom = append(inRoom, &soakPeer{ws: ws, id: w.ID, sent: map[string]int{}, got: map[string]int{}, done: make(chan struct{})})
		}
		for _, p := range inRoom {
			for _, q := range inRoom {
				if q != p {
					p.mates = append(p.mates, q.id)
				}
			}
		}
		peers = append(peers, inRoom...)
	}
	return peers
}

func peerByID(peers []*soakPeer, id string) *soakPeer {
	for _, p := range peers {
		if p.id == id {
			return p
		}
	}
	return nil
}

// send sends rate messages a second, to each mate in turn, until stop.
// Each carries its sequence number for that mate in sdp.
func (p *soakPeer) send(rate int, stop <-chan struct{}) {
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		to := p.mates[i%len(p.mates)]
		p.sent[to]++
		if p.write(proto.Message{Type: proto.TypeOffer, To: to, SDP: strconv.Itoa(p.sent[to])}) != nil {
			return
		}
	}
}

func (p *soakPeer) write(m proto.Message) error {
	_ = p.ws.SetWriteDeadline(time.Now().Add(ioTimeout))
	return p.ws.WriteMessage(websocket.TextMessage, proto.Encode(m))
}

func (p *soakPeer) sendEnd(t *testing.T) {
	for _, to := range p.mates {
		if err := p.write(proto.Message{Type: proto.TypeOffer, To: to, SDP: "end"}); err != nil {
			t.Fatalf("send end: %v", err)
		}
	}
}

// read checks the messages from each peer: sequence numbers 1, 2, 3, …
// then "end". It returns once every mate has sent its end.
func (p *soakPeer) read() {
	defer close(p.done)
	ended := 0
	for ended < len(p.mates) {
		m, err := readMsg(p.ws)
		if err != nil {
			p.bad = append(p.bad, fmt.Sprintf("peer %s: read: %v", p.id, err))
			return
		}
		switch {
		case m.Type == proto.TypeOffer && m.SDP == "end":
			ended++
		case m.Type == proto.TypeOffer:
			if seq, _ := strconv.Atoi(m.SDP); seq != p.got[m.From]+1 {
				p.bad = append(p.bad, fmt.Sprintf("peer %s: message %s from %s after %d", p.id, m.SDP, m.From, p.got[m.From]))
			}
			p.got[m.From]++
		case m.Type == proto.TypePeerJoined:
		default:
			p.bad = append(p.bad, fmt.Sprintf("peer %s: unexpected %+v", p.id, m))
		}
	}
}
