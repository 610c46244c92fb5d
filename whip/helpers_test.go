package whip_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/videochat/videochat/internal/logtest"
	"github.com/videochat/videochat/internal/looptest"
	"github.com/videochat/videochat/internal/rxbatch"
	"github.com/videochat/videochat/internal/sigtest"
	"github.com/videochat/videochat/peer"
	"github.com/videochat/videochat/signal"
	"github.com/videochat/videochat/whip"
)

// waitTimeout bounds every wait; generous for a shared machine.
const waitTimeout = 40 * time.Second

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// env is a signalling server with the WHIP/WHEP handler mounted beside it,
// on one loopback HTTP server.
type env struct {
	url string
	sig *signal.Server
	h   *whip.Handler
	api *webrtc.API
}

func startEnv(t testing.TB, sc signal.Config, wc whip.Config) *env {
	t.Helper()
	log := logtest.New(t)
	sc.Logger = log.With("side", "signal")
	if sc.MaxConnsPerIP == 0 {
		sc.MaxConnsPerIP = signal.Unlimited
	}
	api := looptest.API(t, nil)
	var h *whip.Handler
	srv := sigtest.Start(t, sigtest.Config{Signal: sc, Mount: func(mux *http.ServeMux, base string) {
		wc.WHIP, wc.WHEP = true, true
		if wc.API == nil {
			wc.API = serverAPI(t, whip.DefaultReadBatch)
		}
		wc.Server = func(string) string { return base }
		wc.Logger = log.With("side", "whip")
		var err error
		if h, err = whip.New(wc); err != nil {
			t.Fatal(err)
		}
		mux.Handle("/whip/", h)
		mux.Handle("/whep/", h)
	}})
	t.Cleanup(h.Close) // runs before the server's own cleanup: sessions end first
	return &env{url: srv.URL, sig: srv.Signal, h: h, api: api}
}

// newSynth starts synthetic VP8 and Opus tracks (looptest.Synth) with
// 1200-byte frames.
func newSynth(t testing.TB, id string) *looptest.Synth { return looptest.NewSynth(t, id, 1200) }

// serverAPI is the handler's API as serve builds it: the interceptors of
// whip.RegisterInterceptors and whip.NewNet's sockets with reads batched
// over readBatch (serve: --whip-read-batch, whip.DefaultReadBatch; the
// test clients use
// pion's defaults).
func serverAPI(t testing.TB, readBatch time.Duration) *webrtc.API {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	quiet, err := whip.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	n := rxbatch.NewNet(quiet, rxbatch.Config{Period: readBatch})
	ir := &interceptor.Registry{}
	if err := whip.RegisterInterceptors(me, ir, peer.TWCCFeedbackConfig{Arrival: n.Arrivals().Lookup}); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	looptest.Restrict(&se)
	se.SetNet(n)
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
}

// roomPeer runs a native participant until the test ends.
type roomPeer struct {
	p      *peer.Peer
	cancel context.CancelFunc
	done   chan error
}

func startRoomPeer(t testing.TB, e *env, room, name string, tracks []webrtc.TrackLocal, onTrack func(peer.RemoteTrack) peer.TrackSink) *roomPeer {
	t.Helper()
	p, err := peer.New(peer.Config{
		Server: e.url, Room: room, Name: name, API: e.api, Tracks: tracks,
		OnTrack: onTrack, Logger: logtest.New(t).With("side", name),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rp := &roomPeer{p: p, cancel: cancel, done: make(chan error, 1)}
	go func() { rp.done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-rp.done
	})
	return rp
}

// statsOf returns the stats of the connection to the participant called name.
func (r *roomPeer) statsOf(name string) (peer.PeerStats, bool) {
	for _, ps := range r.p.Stats().Peers {
		if ps.Name == name {
			return ps, true
		}
	}
	return peer.PeerStats{}, false
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
