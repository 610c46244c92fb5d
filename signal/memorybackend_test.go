package signal

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/videochat/videochat/signal/proto"
)

// recSink records delivered frames; with limit > 0 it refuses more.
type recSink struct {
	mu     sync.Mutex
	frames []proto.Message
	limit  int
}

func (s *recSink) Deliver(frame []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.limit > 0 && len(s.frames) >= s.limit {
		return false
	}
	m, err := proto.Decode(frame)
	if err != nil && m.Type == "" {
		panic(fmt.Sprintf("undecodable frame %q", frame))
	}
	s.frames = append(s.frames, m)
	return true
}

func (s *recSink) got() []proto.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]proto.Message(nil), s.frames...)
}

func TestMemoryJoinLeave(t *testing.T) {
	ctx := context.Background()
	b := NewMemoryBackend()
	defer b.Close()
	var sa, sb, sc recSink
	a := proto.PeerInfo{ID: "a", Name: "A"}
	bb := proto.PeerInfo{ID: "b", Name: "B"}
	c := proto.PeerInfo{ID: "c", Name: "C"}

	if peers, err := b.Join(ctx, "r", a, 8, &sa); err != nil || len(peers) != 0 {
		t.Fatalf("join a = %v, %v", peers, err)
	}
	if peers, err := b.Join(ctx, "r", bb, 8, &sb); err != nil || len(peers) != 1 || peers[0] != a {
		t.Fatalf("join b = %v, %v", peers, err)
	}
	if peers, err := b.Join(ctx, "r", c, 8, &sc); err != nil || len(peers) != 2 || peers[0] != a || peers[1] != bb {
		t.Fatalf("join c = %v, %v, want [a b] in join order", peers, err)
	}
	if _, err := b.Join(ctx, "r", a, 8, &recSink{}); err == nil {
		t.Fatal("a second join with the same id was accepted")
	}
	if err := b.Leave(ctx, "r", "b"); err != nil {
		t.Fatal(err)
	}
	if err := b.Leave(ctx, "r", "b"); err != nil {
		t.Fatalf("second leave: %v", err)
	}
	wantTypes(t, "a", sa.got(), proto.TypePeerJoined+":b", proto.TypePeerJoined+":c", proto.TypePeerLeft+":b")
	wantTypes(t, "b", sb.got(), proto.TypePeerJoined+":c")
	wantTypes(t, "c", sc.got(), proto.TypePeerLeft+":b")

	b.Leave(ctx, "r", "a")
	b.Leave(ctx, "r", "c")
	if got := b.Peers("r"); got != nil {
		t.Fatalf("empty room still lists %v", got)
	}
}

func wantTypes(t *testing.T, who string, got []proto.Message, want ...string) {
	t.Helper()
	var s []string
	for _, m := range got {
		s = append(s, m.Type+":"+m.Peer.ID)
	}
	if fmt.Sprint(s) != fmt.Sprint(want) {
		t.Fatalf("%s got %v, want %v", who, s, want)
	}
}

func TestMemorySendBroadcast(t *testing.T) {
	ctx := context.Background()
	b := NewMemoryBackend()
	defer b.Close()
	sa, sb := &recSink{}, &recSink{limit: 1}
	b.Join(ctx, "r", proto.PeerInfo{ID: "a", Name: "A"}, 8, sa)
	b.Join(ctx, "r", proto.PeerInfo{ID: "b", Name: "B"}, 8, sb) // a gets peer-joined
	frame := proto.Encode(proto.Message{Type: proto.TypeOffer, From: "b", To: "a", SDP: "x"})

	if err := b.Send(ctx, "r", "a", frame); err != nil {
		t.Fatalf("send to a: %v", err)
	}
	if err := b.Send(ctx, "r", "nobody", frame); !errors.Is(err, ErrUnknownPeer) {
		t.Fatalf("send to nobody = %v, want ErrUnknownPeer", err)
	}
	if err := b.Send(ctx, "other", "a", frame); !errors.Is(err, ErrUnknownPeer) {
		t.Fatalf("send to a in another room = %v, want ErrUnknownPeer", err)
	}
	if err := b.Broadcast(ctx, "r", "a", frame); err != nil {
		t.Fatal(err)
	}
	// b's sink now holds one frame and refuses the next: Send says so.
	if err := b.Send(ctx, "r", "b", frame); !errors.Is(err, ErrUnknownPeer) {
		t.Fatalf("send to a full sink = %v, want ErrUnknownPeer", err)
	}
	if got := sa.got(); len(got) != 2 || got[1].Type != proto.TypeOffer {
		t.Fatalf("a got %+v, want peer-joined then the offer", got)
	}
	if got := sb.got(); len(got) != 1 || got[0].Type != proto.TypeOffer {
		t.Fatalf("b got %+v, want the broadcast only", got)
	}

	b.Close()
	if _, err := b.Join(ctx, "r", proto.PeerInfo{ID: "c"}, 8, &recSink{}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("join after Close = %v, want ErrUnavailable", err)
	}
	if err := b.Send(ctx, "r", "a", frame); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("send after Close = %v, want ErrUnavailable", err)
	}
}

// TestMemoryCapacityRace: 20 concurrent joins to a room of 8 admit exactly
// 8, and every admitted peer hears of exactly the admitted peers after it.
func TestMemoryCapacityRace(t *testing.T) {
	const joiners, capacity = 20, 8
	for round := range 20 {
		b := NewMemoryBackend()
		sinks := make([]*recSink, joiners)
		errs := make([]error, joiners)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range joiners {
			sinks[i] = &recSink{}
			wg.Go(func() {
				<-start
				p := proto.PeerInfo{ID: fmt.Sprintf("p%02d", i), Name: "P"}
				_, errs[i] = b.Join(context.Background(), "r", p, capacity, sinks[i])
			})
		}
		close(start)
		wg.Wait()
		admitted := 0
		joinedSeen := 0
		for i, err := range errs {
			switch {
			case err == nil:
				admitted++
				joinedSeen += len(sinks[i].got())
			case !errors.Is(err, ErrRoomFull):
				t.Fatalf("round %d: join %d: %v", round, i, err)
			}
		}
		if admitted != capacity || len(b.Peers("r")) != capacity {
			t.Fatalf("round %d: admitted %d (room lists %d), want %d", round, admitted, len(b.Peers("r")), capacity)
		}
		// Each pair of admitted peers produces exactly one peer-joined.
		if want := capacity * (capacity - 1) / 2; joinedSeen != want {
			t.Fatalf("round %d: %d peer-joined delivered, want %d", round, joinedSeen, want)
		}
		b.Close()
	}
}
