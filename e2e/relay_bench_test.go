package e2e

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/redistest"
	"github.com/videochat/videochat/signal/proto"
)

// BenchmarkRelay measures the latency of directed messages through real
// servers: client X sends a candidate to client Y, one at a time, and the
// time from X's write to Y's read is recorded. It reports p50 and p99 in
// microseconds for
//
//	memory:      one server, in-memory backend
//	redis-local: one server with Redis (X and Y on the same node)
//	redis-cross: X on server A, Y on server B, through Redis
//
// Run: go test ./e2e -run '^$' -bench BenchmarkRelay -benchtime 5000x
//
// The servers run without the per-connection message rate limit.
func BenchmarkRelay(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	mem := startBenchServer(ctx, b)
	b.Run("memory", func(b *testing.B) { benchRelay(ctx, b, mem, mem) })

	redis := redistest.Start(b) // skips here without redis-server, unless CI
	srvA := startBenchServer(ctx, b, "--redis", redisURL(redis.Addr()))
	srvB := startBenchServer(ctx, b, "--redis", redisURL(redis.Addr()))
	waitStatus(ctx, b, srvA, "/readyz", 200)
	waitStatus(ctx, b, srvB, "/readyz", 200)
	b.Run("redis-local", func(b *testing.B) { benchRelay(ctx, b, srvA, srvA) })
	b.Run("redis-cross", func(b *testing.B) { benchRelay(ctx, b, srvA, srvB) })
}

// benchRelay joins X on baseX and Y on baseY in a fresh room and relays
// b.N candidates from X to Y, one in flight at a time. The servers run
// with --message-rate -1: the default limit (50/s) would throttle X.
func benchRelay(ctx context.Context, b *testing.B, baseX, baseY string) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	room := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	y, _ := mustJoin(ctx, b, baseY, room, "y")
	x, welcome := mustJoin(ctx, b, baseX, room, "x")
	xID := y.next(ctx, proto.TypePeerJoined, nil).Peer.ID
	if len(welcome.Peers) != 1 {
		b.Fatalf("x's welcome lists %v, want y alone", welcome.Peers)
	}
	yID := welcome.Peers[0].ID
	lat := make([]time.Duration, 0, b.N)
	msg := proto.Message{Type: proto.TypeCandidate, To: yID, Candidate: &proto.ICECandidate{}}
	b.ResetTimer()
	for i := range b.N {
		msg.Candidate.Candidate = "candidate:" + strconv.Itoa(i) + " 1 udp 2122260223 127.0.0.1 40000 typ host"
		sent := time.Now()
		if err := x.send(msg); err != nil {
			b.Fatal(err)
		}
		got := relayed(ctx, b, x, y)
		lat = append(lat, time.Since(sent))
		if got.From != xID || got.Candidate == nil || got.Candidate.Candidate != msg.Candidate.Candidate {
			b.Fatalf("message %d: got %+v from %q, want candidate %q from %q", i, got.Candidate, got.From, msg.Candidate.Candidate, xID)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(micros(percentile(lat, 50)), "p50-µs")
	b.ReportMetric(micros(percentile(lat, 99)), "p99-µs")
	x.close()
	y.close()
}

// relayed returns Y's next candidate; an error sent to X ends the
// benchmark.
func relayed(ctx context.Context, b *testing.B, x, y *wsPeer) proto.Message {
	for {
		select {
		case m := <-y.msgs:
			if m.Type == proto.TypeCandidate {
				return m
			}
		case m := <-x.msgs:
			if m.Type == proto.TypeError {
				b.Fatalf("x got error %q (%s)", m.Code, m.Message)
			}
		case <-ctx.Done():
			b.Fatalf("y: no candidate: %v", ctx.Err())
		}
	}
}

// percentile returns the p-th percentile of sorted samples (nearest rank).
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[max(i-1, 0)]
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// startBenchServer runs `videochat serve` for a benchmark (no message
// rate limit) and returns its base URL; the process is interrupted, then
// killed, when the benchmark ends.
func startBenchServer(ctx context.Context, tb testing.TB, args ...string) string {
	tb.Helper()
	_, url := startServer(ctx, tb, append([]string{"--log-level", "warn", "--message-rate", "-1"}, args...)...)
	return url
}
