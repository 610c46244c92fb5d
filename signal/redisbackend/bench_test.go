package redisbackend

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/redistest"
	"github.com/videochat/videochat/signal"
	"github.com/videochat/videochat/signal/proto"
)

// BenchmarkSendLatency measures how long a directed frame takes from Send
// to the target's sink: on one memory backend, on one Redis node (target
// local), and across two Redis nodes (through Redis pub/sub). It reports
// p50 and p99 in microseconds.
//
//	go test ./signal/redisbackend -run '^$' -bench SendLatency -benchtime 5000x
func BenchmarkSendLatency(b *testing.B) {
	b.Run("memory", func(b *testing.B) {
		m := signal.NewMemoryBackend()
		defer m.Close()
		benchSend(b, m, m)
	})
	srv := redistest.Start(b)
	newB := func(node string) *Backend {
		nb, err := New(context.Background(), Config{URL: srv.URL(), NodeID: node, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for nb.Ready(context.Background()) != nil {
			if time.Now().After(deadline) {
				b.Fatal("redis backend not ready")
			}
			time.Sleep(20 * time.Millisecond) // polling an external condition
		}
		return nb
	}
	x, y := newB("X"), newB("Y")
	defer x.Close()
	defer y.Close()
	b.Run("redis-same-node", func(b *testing.B) { benchSend(b, x, x) })
	b.Run("redis-two-nodes", func(b *testing.B) { benchSend(b, x, y) })
}

// benchSend joins a target on to, then sends b.N frames to it through from,
// waiting for each to arrive.
func benchSend(b *testing.B, from, to signal.Backend) {
	ctx := context.Background()
	room := "bench-" + b.Name()[len("BenchmarkSendLatency/"):]
	sink := &chanSink{ch: make(chan []byte, 16)}
	if _, err := to.Join(ctx, room, proto.PeerInfo{ID: "target", Name: "t"}, 8, sink); err != nil {
		b.Fatal(err)
	}
	defer to.Leave(ctx, room, "target")
	frame := proto.Encode(proto.Message{Type: proto.TypeCandidate, From: "sender", To: "target",
		Candidate: &proto.ICECandidate{Candidate: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host"}})
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if err := from.Send(ctx, room, "target", frame); err != nil {
			b.Fatal(err)
		}
		select {
		case <-sink.ch:
		case <-time.After(5 * time.Second):
			b.Fatal("frame lost")
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
}

// chanSink passes frames to a channel, refusing them when it is full.
type chanSink struct{ ch chan []byte }

func (s *chanSink) Deliver(f []byte) bool {
	select {
	case s.ch <- f:
		return true
	default:
		return false
	}
}
