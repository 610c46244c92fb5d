package signalbench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestRunAgainstSink(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("GET /ws/{room}", NewSink())
	hs := httptest.NewServer(mux)
	defer hs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := Run(ctx, Config{Peers: 20, RoomSize: 2, Sweep: []float64{200, 400}, Duration: time.Second,
		Idle: time.Millisecond, Probes: -1}, Target{URL: hs.URL})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Load) != 2 {
		t.Fatalf("%d steps, want 2", len(rep.Load))
	}
	for _, l := range rep.Load {
		// How close the generator gets to the offered rate depends on the
		// machine's load (a benchmark figure, not a test's): the test asks
		// that it sent, and that every message it sent came back.
		t.Logf("offered %v/s for 1 s: sent %d, received %d", l.OfferedRate, l.Sent, l.Received)
		if l.Sent == 0 || l.Received != l.Sent {
			t.Errorf("offered %v/s for 1 s: sent %d, received %d", l.OfferedRate, l.Sent, l.Received)
		}
	}
	if rep.Join.Probe.Count != 0 || rep.Idle.RSS != nil || rep.Idle.Goroutines != nil {
		t.Errorf("figures without a source were filled: %+v %+v", rep.Join.Probe, rep.Idle)
	}
}
