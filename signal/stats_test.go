package signal

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/videochat/videochat/signal/proto"
)

// Stats is what the tests read of a Server's counters (Server.Stats).
type Stats struct {
	// Conns is the number of open WebSocket connections.
	Conns int
	// Rooms is the number of rooms with a peer on this server.
	Rooms int
	// Held is the number of sessions held for resume right now.
	Held int
	// Dropped counts messages dropped by the rate limit.
	Dropped uint64
	// Shed counts directed messages dropped by the server-wide relay cap
	// (Config.RelayRate).
	Shed uint64
	// RateLimitCloses counts connections closed for exceeding MaxDropped.
	RateLimitCloses uint64
	// Evictions counts slow consumers evicted.
	Evictions uint64
	// RefusedIP counts handshakes refused with 429 (MaxConnsPerIP).
	RefusedIP uint64
	// Resumed counts joins that took a peer id back with a resume token.
	Resumed uint64
}

// Stats returns the server's counters, read from its metrics and maps.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	conns, rooms := s.nconns, len(s.rooms)
	s.mu.Unlock()
	m := s.metrics
	count := func(c prometheus.Collector) uint64 { return uint64(testutil.ToFloat64(c)) }
	return Stats{
		Conns:           conns,
		Rooms:           rooms,
		Held:            int(testutil.ToFloat64(m.held)),
		Dropped:         count(m.dropped),
		Shed:            count(m.shed),
		RateLimitCloses: count(m.evictions.WithLabelValues(proto.CodeRateLimited)),
		Evictions:       count(m.evictions.WithLabelValues(proto.CodeSlowConsumer)),
		RefusedIP:       count(m.refusals.WithLabelValues(refusedPerIP)),
		Resumed:         count(m.resumes),
	}
}

// Peers returns the peers in room in join order; for the tests.
func (b *MemoryBackend) Peers(room string) []proto.PeerInfo {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.rooms[room]
	if r == nil {
		return nil
	}
	members := r.sorted()
	out := make([]proto.PeerInfo, len(members))
	for i, m := range members {
		out[i] = m.info
	}
	return out
}
