package signal

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/videochat/videochat/signal/proto"
)

// TestMetrics: the metrics follow connections, rooms, messages both ways,
// relay latency, errors and refusals as they happen.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	ts := newTestServer(t, Config{Metrics: m, MaxConnsPerIP: 3})
	a, _ := ts.join(t, "r", "A")
	b, _ := ts.join(t, "r", "B")
	a.expectPeer(proto.TypePeerJoined, b)
	if got := testutil.ToFloat64(m.peers); got != 2 {
		t.Errorf("peers = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.rooms); got != 1 {
		t.Errorf("rooms = %v, want 1", got)
	}
	const n = 5
	for range n {
		a.offer(b.id, "v=0") // the fast path
		b.expect(proto.TypeOffer)
	}
	b.send(proto.Message{Type: proto.TypeCandidate, To: a.id, Candidate: &proto.ICECandidate{Candidate: "c"}})
	a.expect(proto.TypeCandidate)
	a.sendRaw(websocket.TextMessage, []byte(`{"type":"offer","to":"`+b.id+`","sdp":"x","extra":1}`)) // the full path
	b.expect(proto.TypeOffer)
	a.sendRaw(websocket.TextMessage, []byte(`{"type":"offer",`))
	a.expectError(proto.CodeBadMessage, "")

	want := map[string]float64{
		`in{type="offer"}`:           n + 1,
		`in{type="candidate"}`:       1,
		`in{type="join"}`:            2,
		`in{type="invalid"}`:         1,
		`out{type="offer"}`:          n + 1,
		`out{type="welcome"}`:        2,
		`out{type="peer-joined"}`:    1,
		`errors{code="bad-message"}`: 1,
	}
	got := map[string]float64{
		`in{type="offer"}`:           testutil.ToFloat64(m.in[inOffer]),
		`in{type="candidate"}`:       testutil.ToFloat64(m.in[inCandidate]),
		`in{type="join"}`:            testutil.ToFloat64(m.in[inJoin]),
		`in{type="invalid"}`:         testutil.ToFloat64(m.in[inInvalid]),
		`out{type="offer"}`:          testutil.ToFloat64(m.out[outOffer]),
		`out{type="welcome"}`:        testutil.ToFloat64(m.out[outWelcome]),
		`out{type="peer-joined"}`:    testutil.ToFloat64(m.out[outPeerJoined]),
		`errors{code="bad-message"}`: testutil.ToFloat64(m.errors.WithLabelValues(proto.CodeBadMessage)),
	}
	// The writer counts a frame after writing it: the last error may be
	// counted a moment after the client read it.
	waitFor(t, "messages_out_total", func() bool { return testutil.ToFloat64(m.out[outError]) == 1 })
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %v, want %v", k, got[k], w)
		}
	}
	if c := histogramCount(t, reg, "videochat_signal_relay_latency_seconds"); c != n+2 {
		t.Errorf("relay latency observations = %d, want %d", c, n+2)
	}

	// Refusals: a fourth connection from this address, and a bad room.
	c := ts.dial(t, "r")
	defer c.ws.Close()
	if _, resp, err := ts.dialRaw("r", nil); err == nil || resp.StatusCode != 429 {
		t.Fatalf("fourth connection: %v, want HTTP 429", err)
	}
	if got := testutil.ToFloat64(m.refusals.WithLabelValues(refusedPerIP)); got != 1 {
		t.Errorf("refused per-ip = %v, want 1", got)
	}

	// Leaving updates the gauges.
	b.send(proto.Message{Type: proto.TypeLeave})
	b.expectClose(websocket.CloseNormalClosure)
	a.expectPeer(proto.TypePeerLeft, b)
	waitFor(t, "peers gauge", func() bool { return testutil.ToFloat64(m.peers) == 1 })
	// A and the pending connection stay.
	waitFor(t, "connections gauge", func() bool { return testutil.ToFloat64(m.conns) == 2 })
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
}

// histogramCount gathers reg and returns the sample count of histogram name.
func histogramCount(t *testing.T, reg *prometheus.Registry, name string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	t.Fatalf("no %s in %d metric families", name, len(mfs))
	return 0
}

// TestIdleConnectionsOneGoroutine: an idle joined connection costs the
// server one goroutine (its reader); writers come and go with the frames.
func TestIdleConnectionsOneGoroutine(t *testing.T) {
	const peers = 40
	ts := newTestServer(t, Config{MaxConnsPerIP: Unlimited})
	_, addr, _ := strings.Cut(ts.http.URL, "://")
	base := runtime.NumGoroutine()
	var all []*rawPeer
	for i := range peers {
		p, err := dialRawPeer(addr, fmt.Sprintf("idle-%d", i/5), fmt.Sprintf("P%d", i))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.nc.Close() })
		all = append(all, p)
	}
	// Clients hold no goroutines; the server's writers exit once the
	// peer-joined frames are written.
	waitFor(t, "one goroutine per idle connection", func() bool {
		return runtime.NumGoroutine()-base <= peers+1 // + the housekeeper
	})
	if got := runtime.NumGoroutine() - base; got < peers {
		t.Fatalf("%d goroutines for %d connections", got, peers)
	}
}
