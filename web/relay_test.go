package web_test

import (
	"fmt"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/browsertest"
	"github.com/videochat/videochat/internal/porttest"
	"github.com/videochat/videochat/signal"
	"github.com/videochat/videochat/signal/turn"
)

// relaySecret is the TURN REST secret shared by the test's TURN servers.
var relaySecret = []byte("web-relay-test-secret")

// startTURN starts the embedded TURN server on 127.0.0.1, relaying to
// loopback peers; udp and tcp are the listen addresses ("127.0.0.1:0" for
// free ports). It closes in t's cleanup.
func startTURN(t *testing.T, udp, tcp string) *turn.Server {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	ts, err := turn.New(turn.Config{ListenUDP: udp, ListenTCP: tcp, Secret: relaySecret,
		AllowPrivate: true, Logger: log.With("component", "turn")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ts.Close() })
	return ts
}

// startRelayServer starts a TURN server and a signalling server whose
// welcome hands out the TURN server's URLs with REST credentials. The URLs
// depend only on the ports and the secret, so a TURN server restarted on
// the same ports accepts the credentials already handed out.
func startRelayServer(t *testing.T) (*testServer, *turn.Server) {
	t.Helper()
	ts := startTURN(t, "127.0.0.1:0", "127.0.0.1:0")
	ice, err := turn.ICEServers(ts.URLs(), relaySecret, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return startServerConfig(t, signal.Config{ICEServers: ice}), ts
}

// joinRelay launches a browser and joins room as name with ?relay=1.
func joinRelay(t *testing.T, s *testServer, room, name string) *participant {
	t.Helper()
	p := browsertest.Launch(t, browsertest.Options{Name: name})
	p.Navigate(s.roomURL(room, name) + "&relay=1")
	p.WaitFor("joined", `window.videochat && window.videochat.state === 'joined'`, 0)
	if !browsertest.Eval[bool](p, `window.videochat.relay`) {
		t.Fatalf("%s: ?relay=1 not picked up", name)
	}
	return &participant{Page: p, name: name, id: browsertest.Eval[string](p, `window.videochat.id`)}
}

// selectedPairJS evaluates to "<local type> <remote type>" of the selected
// candidate pair of the connection to peer id, or "" when there is none.
func selectedPairJS(id string) string {
	return fmt.Sprintf(`(async () => {
		const pc = window.videochat.peers().get(%s);
		if (!pc) return '';
		const s = await pc.getStats();
		let pair = null;
		s.forEach((r) => { if (r.type === 'transport' && r.selectedCandidatePairId) pair = s.get(r.selectedCandidatePairId); });
		if (!pair) return '';
		return s.get(pair.localCandidateId).candidateType + ' ' + s.get(pair.remoteCandidateId).candidateType;
	})()`, strconv.Quote(id))
}

// remoteUfragJS evaluates to the ICE ufrag of the remote description of the
// connection to peer id.
func remoteUfragJS(id string) string {
	return fmt.Sprintf(`(() => {
		const pc = window.videochat.peers().get(%s);
		const m = pc && pc.remoteDescription && /a=ice-ufrag:(\S+)/.exec(pc.remoteDescription.sdp);
		return m ? m[1] : '';
	})()`, strconv.Quote(id))
}

// checkRelayed fails unless both pages' selected pairs are local relay and
// their configuration is relay-only.
func checkRelayed(t *testing.T, a, b *participant) {
	t.Helper()
	for _, pp := range [][2]*participant{{a, b}, {b, a}} {
		p, o := pp[0], pp[1]
		pair := browsertest.Eval[string](p.Page, selectedPairJS(o.id))
		policy := browsertest.Eval[string](p.Page, fmt.Sprintf(`window.videochat.peers().get(%s).getConfiguration().iceTransportPolicy`, strconv.Quote(o.id)))
		t.Logf("%s → %s: selected pair %q, iceTransportPolicy %q", p.name, o.name, pair, policy)
		if policy != "relay" || len(pair) < 5 || pair[:5] != "relay" {
			t.Errorf("%s → %s: selected pair %q, policy %q; want a local relay candidate under policy relay", p.name, o.name, pair, policy)
		}
	}
}

// TestRelayOnlyCall: two pages with ?relay=1 call each other through the
// embedded TURN server on 127.0.0.1 and decode live video.
func TestRelayOnlyCall(t *testing.T) {
	s, ts := startRelayServer(t)
	a := joinRelay(t, s, "relay", "alice")
	b := joinRelay(t, s, "relay", "bob")
	a.WaitFramesDecoded(b.id, minFrames)
	b.WaitFramesDecoded(a.id, minFrames)
	b.WaitNonBlack(remoteVideo(a.id))
	checkRelayed(t, a, b)
	if n := ts.Allocations(); n < 2 {
		t.Errorf("TURN server has %d allocations during a relayed call, want ≥ 2", n)
	}
}

// TestForcedICERestart: an ICE restart requested on the offering page is
// negotiated (the answerer sees a new ufrag) and video keeps flowing.
func TestForcedICERestart(t *testing.T) {
	s := startServer(t, 0)
	a := join(t, s, "restart", "alice") // there first: offers to bob
	b := join(t, s, "restart", "bob")
	a.WaitFramesDecoded(b.id, minFrames)
	b.WaitFramesDecoded(a.id, minFrames)
	before := browsertest.Eval[string](b.Page, remoteUfragJS(a.id))
	if !browsertest.Eval[bool](a.Page, fmt.Sprintf(`window.videochat.restartIce(%s)`, strconv.Quote(b.id))) {
		t.Fatal("restartIce found no connection")
	}
	b.WaitFor("new remote ufrag", fmt.Sprintf(`(%s) !== %s && (%[1]s) !== ''`, remoteUfragJS(a.id), strconv.Quote(before)), 0)
	after := browsertest.Eval[string](b.Page, remoteUfragJS(a.id))
	t.Logf("bob's remote ufrag: %s → %s", before, after)
	if n := browsertest.Eval[int](a.Page, `window.videochat.restarts()`); n != 1 {
		t.Errorf("alice restarts() = %d, want 1", n)
	}
	checkFramesFlow(t, a, b)
}

// checkFramesFlow fails unless each page decodes minFrames more frames
// from the other.
func checkFramesFlow(t *testing.T, a, b *participant) {
	t.Helper()
	for _, pp := range [][2]*participant{{a, b}, {b, a}} {
		p, o := pp[0], pp[1]
		n, err := p.FramesDecoded(o.id)
		if err != nil {
			t.Fatal(err)
		}
		p.For(t).WaitFramesDecoded(o.id, n+minFrames)
	}
}

// TestICERestartAfterRelayOutage cuts a relayed call's media path by
// stopping the TURN server, brings a new one up on the same ports, and
// checks that the offering page restarts ICE and the call recovers through
// the new server without a rejoin.
func TestICERestartAfterRelayOutage(t *testing.T) {
	s, ts := startRelayServer(t)
	a := joinRelay(t, s, "outage", "alice")
	b := joinRelay(t, s, "outage", "bob")
	a.WaitFramesDecoded(b.id, minFrames)
	b.WaitFramesDecoded(a.id, minFrames)
	ufrag := browsertest.Eval[string](b.Page, remoteUfragJS(a.id))

	for _, pp := range [][2]*participant{{a, b}, {b, a}} {
		browsertest.Eval[bool](pp[0].Page, fmt.Sprintf(`(() => {
			const pc = window.videochat.peers().get(%s), t0 = Date.now();
			window.__states = [];
			pc.addEventListener('connectionstatechange', () => window.__states.push((Date.now() - t0) + 'ms ' + pc.connectionState));
			return true;
		})()`, strconv.Quote(pp[1].id)))
	}
	defer func() {
		for _, p := range []*participant{a, b} {
			t.Logf("%s: connection states since the cut: %v", p.name, browsertest.Eval[[]string](p.Page, `window.__states`))
		}
	}()

	udp, tcp := ts.Addrs()
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	// The TURN server comes back on these ports: no other process (nor
	// the pages' own ICE gathering) may take them meanwhile.
	if err := porttest.Reserve(t, tcp.String()); err != nil {
		t.Fatal(err)
	}
	releaseUDP, err := porttest.ReserveUDP(t, udp.String())
	if err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	d := a.WaitFor("connection to bob disconnected", fmt.Sprintf(`['disconnected', 'failed'].includes(window.videochat.peers().get(%s).connectionState)`,
		strconv.Quote(b.id)), 2*browsertest.DefaultTimeout)
	t.Logf("alice sees the connection %s %v after the TURN server stopped",
		browsertest.Eval[string](a.Page, fmt.Sprintf(`window.videochat.peers().get(%s).connectionState`, strconv.Quote(b.id))), d.Round(time.Millisecond))
	releaseUDP()
	ts2 := startTURN(t, udp.String(), tcp.String())

	a.WaitFor("an ICE restart", `window.videochat.restarts() >= 1`, 0)
	t.Logf("alice restarted ICE %v after the cut", time.Since(cut).Round(time.Millisecond))
	b.WaitFor("new remote ufrag", fmt.Sprintf(`(%s) !== %s`, remoteUfragJS(a.id), strconv.Quote(ufrag)), 0)
	for _, pp := range [][2]*participant{{a, b}, {b, a}} {
		pp[0].WaitFor("connected again", fmt.Sprintf(`window.videochat.peers().get(%s).connectionState === 'connected'`, strconv.Quote(pp[1].id)), 0)
	}
	t.Logf("connected again %v after the cut", time.Since(cut).Round(time.Millisecond))
	checkFramesFlow(t, a, b)
	checkRelayed(t, a, b)
	for _, p := range []*participant{a, b} {
		if id := browsertest.Eval[string](p.Page, `window.videochat.id`); id != p.id {
			t.Errorf("%s rejoined: id %s → %s", p.name, p.id, id)
		}
	}
	if n := browsertest.Eval[int](b.Page, `window.videochat.restarts()`); n != 0 {
		t.Errorf("bob (the answering side) restarted ICE %d times", n)
	}
	if n := ts2.Allocations(); n < 2 {
		t.Errorf("new TURN server has %d allocations, want ≥ 2", n)
	}
}
