package looptest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/videochat/videochat/internal/looptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const waitTimeout = 30 * time.Second

// candidates gathers the local candidates of a new PeerConnection of api
// and returns their SDP lines.
func candidates(t *testing.T, api *webrtc.API) []string {
	t.Helper()
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pc.Close() }()
	if _, err := pc.CreateDataChannel("probe", nil); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(looptest.Offer(t, pc).SDP, "\r\n") {
		if strings.HasPrefix(l, "a=candidate:") {
			out = append(out, l)
		}
	}
	return out
}

// TestAPIGathersLoopbackUDPOnly: every candidate is a UDP host candidate
// on 127.0.0.1, and there is at least one.
func TestAPIGathersLoopbackUDPOnly(t *testing.T) {
	cands := candidates(t, looptest.API(t, nil))
	if len(cands) == 0 {
		t.Fatal("no candidates")
	}
	for _, c := range cands {
		f := strings.Fields(c)
		if len(f) < 8 || strings.ToLower(f[2]) != "udp" || f[4] != "127.0.0.1" || f[7] != "host" {
			t.Errorf("candidate %q is not a UDP host candidate on 127.0.0.1", c)
		}
	}
}

// TestRestrictTypes: the network types given replace the UDP default. With
// TCP4 alone (and no TCP mux, so no TCP host candidates) nothing is
// gathered.
func TestRestrictTypes(t *testing.T) {
	se := webrtc.SettingEngine{}
	looptest.Restrict(&se, webrtc.NetworkTypeTCP4)
	if cands := candidates(t, looptest.NewAPI(t, nil, se)); len(cands) != 0 {
		t.Fatalf("TCP4 only: gathered %q, want nothing", cands)
	}
}

// TestAPIConnects: two PeerConnections of API, negotiated by Connect, open
// a data channel to each other.
func TestAPIConnects(t *testing.T) {
	api := looptest.API(t, nil)
	a, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = a.Close() }()
	b, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	dc, err := a.CreateDataChannel("probe", nil)
	if err != nil {
		t.Fatal(err)
	}
	open := make(chan struct{})
	dc.OnOpen(func() { close(open) })
	looptest.Connect(t, a, b)
	select {
	case <-open:
	case <-time.After(waitTimeout):
		t.Fatalf("data channel did not open; ICE state %s", a.ICEConnectionState())
	}
}

// TestSynth sends a Synth's tracks from one loopback peer to another and
// waits for both kinds to arrive.
func TestSynth(t *testing.T) {
	api := looptest.API(t, nil)
	tx, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Close() }()
	rx, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rx.Close() }()
	s := looptest.NewSynth(t, "synth", 1200)
	for _, tr := range s.Tracks() {
		if _, err := tx.AddTrack(tr); err != nil {
			t.Fatal(err)
		}
	}
	got := make(chan string, 2)
	rx.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if _, _, err := tr.ReadRTP(); err == nil {
			got <- tr.Kind().String()
		}
	})
	looptest.Connect(t, tx, rx)
	kinds := map[string]bool{}
	deadline := time.After(waitTimeout)
	for len(kinds) < 2 {
		select {
		case k := <-got:
			kinds[k] = true
		case <-deadline:
			t.Fatalf("received only %v", kinds)
		}
	}
	s.Close()
	s.Close()
}
