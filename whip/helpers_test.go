package whip_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"go.uber.org/goleak"

	"github.com/videochat/videochat/internal/logtest"
	"github.com/videochat/videochat/internal/looptest"
	"github.com/videochat/videochat/peer"
	"github.com/videochat/videochat/signal"
	"github.com/videochat/videochat/whip"
)

// waitTimeout bounds every wait; generous for a shared machine.
const waitTimeout = 40 * time.Second

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testLog is the test's logger (logtest.New).
func testLog(t testing.TB) *slog.Logger { return logtest.New(t) }

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
	log := testLog(t)
	sc.Logger = log.With("side", "signal")
	if sc.MaxConnsPerIP == 0 {
		sc.MaxConnsPerIP = signal.Unlimited
	}
	sig, err := signal.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	api := looptest.API(t, nil)
	mux := http.NewServeMux()
	hs := httptest.NewUnstartedServer(mux)
	base := "http://" + hs.Listener.Addr().String()
	wc.WHIP, wc.WHEP = true, true
	wc.API = serverAPI(t)
	wc.Server = func(string) string { return base }
	wc.Logger = log.With("side", "whip")
	h, err := whip.New(wc)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("GET /ws/{room}", sig)
	mux.Handle("/whip/", h)
	mux.Handle("/whep/", h)
	hs.Start()
	t.Cleanup(func() {
		h.Close()
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := sig.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		hs.Close()
	})
	return &env{url: base, sig: sig, h: h, api: api}
}

// serverAPI is the handler's API as serve builds it: the interceptors of
// whip.RegisterInterceptors (the test clients use pion's defaults).
func serverAPI(t testing.TB) *webrtc.API {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := whip.RegisterInterceptors(me, ir); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	looptest.Restrict(&se)
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
}

// synth feeds 30 fps VP8-shaped frames and 50/s Opus-shaped packets to two
// sample tracks until stop. Payloads are not decodable; RTP, counters and
// key-frame requests are what is exercised.
type synth struct {
	Video, Audio *webrtc.TrackLocalStaticSample
	stop         chan struct{}
	wg           sync.WaitGroup
}

func newSynth(t testing.TB, id string) *synth {
	t.Helper()
	v, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", id)
	if err != nil {
		t.Fatal(err)
	}
	a, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", id)
	if err != nil {
		t.Fatal(err)
	}
	s := &synth{Video: v, Audio: a, stop: make(chan struct{})}
	s.wg.Add(2)
	go s.loop(v, 33*time.Millisecond, 1200)
	go s.loop(a, 20*time.Millisecond, 80)
	t.Cleanup(s.close)
	return s
}

func (s *synth) tracks() []webrtc.TrackLocal { return []webrtc.TrackLocal{s.Video, s.Audio} }

func (s *synth) loop(tr *webrtc.TrackLocalStaticSample, every time.Duration, size int) {
	defer s.wg.Done()
	tick := time.NewTicker(every)
	defer tick.Stop()
	buf := make([]byte, size)
	for i := 0; ; i++ {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		buf[0] = byte(i) | 1
		_ = tr.WriteSample(media.Sample{Data: buf, Duration: every})
	}
}

func (s *synth) close() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.wg.Wait()
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
		OnTrack: onTrack, Logger: testLog(t).With("side", name),
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
