package capture

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// A lost PulseAudio stream can block miniaudio's uninit for ever; the
	// microphone abandons it (see micSource.release), and so does this check.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/gen2brain/malgo._Cfunc_ma_device_uninit"))
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func openMedia(t testing.TB, cfg Config) *Media {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	m, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestTestSourcesVP8AndOpus(t *testing.T) {
	m := openMedia(t, Config{Video: "test", Audio: "test"})
	if n := len(m.Tracks()); n != 2 {
		t.Fatalf("got %d tracks, want 2", n)
	}
	api := newAPI(t, RegisterCodecs)
	start := time.Now()
	c := dial(t, api, api, m.Tracks())
	eventually(t, "30 video frames and 25 audio packets", func() bool {
		return c.rx.frames.Load() >= 30 && c.rx.audio.Load() >= 25
	})
	t.Logf("30 frames after %v", time.Since(start))
	if got := c.rx.codec("video"); got != webrtc.MimeTypeVP8 {
		t.Errorf("video codec %q, want VP8", got)
	}
	if got := c.rx.codec("audio"); got != webrtc.MimeTypeOpus {
		t.Errorf("audio codec %q, want Opus", got)
	}
	if c.rx.keyframes.Load() < 1 {
		t.Error("no keyframe received")
	}
	if n := c.rx.tsBack.Load(); n != 0 {
		t.Errorf("%d frames with non-increasing RTP timestamps", n)
	}
}

func TestH264OnlyReceiverGetsH264(t *testing.T) {
	m := openMedia(t, Config{Video: "test", Audio: "none"})
	c := dial(t, newAPI(t, RegisterCodecs), newAPI(t, h264Only), m.Tracks())
	eventually(t, "30 H.264 frames", func() bool { return c.rx.frames.Load() >= 30 })
	if got := c.rx.codec("video"); got != webrtc.MimeTypeH264 {
		t.Fatalf("video codec %q, want H264", got)
	}
	if c.rx.keyframes.Load() < 1 {
		t.Error("no IDR received")
	}
}

// TestEncodeOnce binds the same track to two PeerConnections and checks
// that one encoder serves both.
func TestEncodeOnce(t *testing.T) {
	m := openMedia(t, Config{Video: "test", Audio: "none"})
	api := newAPI(t, RegisterCodecs)
	c1 := dial(t, api, api, m.Tracks())
	c2 := dial(t, api, api, m.Tracks())
	eventually(t, "60 frames on both receivers", func() bool {
		return c1.rx.frames.Load() >= 60 && c2.rx.frames.Load() >= 60
	})
	tr := m.video
	encoded := tr.counters.frames.Load()
	got1, got2 := c1.rx.frames.Load(), c2.rx.frames.Load()
	t.Logf("encoded %d frames, received %d and %d", encoded, got1, got2)
	if n := tr.counters.encoders.Load(); n != 1 {
		t.Errorf("%d encoders created, want 1", n)
	}
	// Two encoders would have encoded about got1+got2 frames.
	if encoded >= got1+got2 {
		t.Errorf("encoded %d frames for %d+%d delivered: not encoded once", encoded, got1, got2)
	}

	// A VP8 and an H.264 receiver at once: one encoder per codec.
	c3 := dial(t, api, newAPI(t, h264Only), m.Tracks())
	eventually(t, "H.264 frames", func() bool { return c3.rx.frames.Load() >= 30 })
	if n := tr.counters.encoders.Load(); n != 2 {
		t.Errorf("%d encoders after an H.264 receiver joined, want 2", n)
	}
	before := c1.rx.frames.Load()
	eventually(t, "VP8 frames still flowing", func() bool { return c1.rx.frames.Load() >= before+15 })
}

// TestPipelineStopsOnUnbind closes every PeerConnection and expects the
// pipeline goroutine to end without Media.Close, then to start again.
func TestPipelineStopsOnUnbind(t *testing.T) {
	m := openMedia(t, Config{Video: "test", Audio: "test"})
	api := newAPI(t, RegisterCodecs)
	for round := range 2 {
		c := dial(t, api, api, m.Tracks())
		eventually(t, "media", func() bool { return c.rx.frames.Load() >= 10 && c.rx.audio.Load() >= 10 })
		c.close(t)
		for _, tr := range []*track{m.video, m.audio} {
			tr.lifeMu.Lock()
			done, stop := tr.done, tr.stop
			tr.lifeMu.Unlock()
			if stop != nil {
				t.Fatalf("round %d: %s pipeline still has a stop channel after unbind", round, tr.id)
			}
			select {
			case <-done:
			case <-time.After(testTimeout):
				t.Fatalf("round %d: %s pipeline did not stop", round, tr.id)
			}
		}
	}
	if n := m.video.counters.encoders.Load(); n != 2 {
		t.Errorf("%d video encoders over two calls, want 2", n)
	}
}

func TestRequestKeyFrame(t *testing.T) {
	for _, tc := range []struct {
		name string
		reg  func(*webrtc.MediaEngine) error
	}{{"VP8", RegisterCodecs}, {"H264", h264Only}} {
		t.Run(tc.name, func(t *testing.T) {
			m := openMedia(t, Config{Video: "test", Audio: "none"})
			c := dial(t, newAPI(t, RegisterCodecs), newAPI(t, tc.reg), m.Tracks())
			eventually(t, "first keyframe and 20 frames", func() bool {
				return c.rx.keyframes.Load() >= 1 && c.rx.frames.Load() >= 20
			})
			// Natural keyframes come every 10 s: a new one within 2 s is ours.
			keys := c.rx.keyframes.Load()
			// The test receiver may have asked for a keyframe at the start
			// (its first packet was not one): count only what the burst forces.
			forced := m.video.counters.forced.Load()
			asked := time.Now()
			kr, ok := m.Tracks()[0].(KeyFrameRequester)
			if !ok {
				t.Fatal("video track does not implement KeyFrameRequester")
			}
			for range 5 { // a burst of PLIs is coalesced
				kr.RequestKeyFrame()
			}
			eventually(t, "requested keyframe", func() bool { return c.rx.keyframes.Load() > keys })
			if d := time.Unix(0, c.rx.lastKey.Load()).Sub(asked); d > 2*time.Second {
				t.Errorf("keyframe %v after the request", d)
			}
			if n := m.video.counters.forced.Load() - forced; n != 1 {
				t.Errorf("%d keyframes forced for a burst of 5 requests, want 1", n)
			}
		})
	}
}

func TestNoCamera(t *testing.T) {
	if ds, _ := Devices(testLogger(t)); hasKind(ds, KindCamera) {
		t.Skip("this machine has a camera")
	}
	start := time.Now()
	_, err := Open(Config{Video: "camera", Audio: "none"})
	if !errors.Is(err, ErrNoCamera) {
		t.Fatalf("got %v, want ErrNoCamera", err)
	}
	if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "--video test") || !strings.Contains(msg, "videochat devices") {
		t.Errorf("message %q: want one line with the hints", msg)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %v", d)
	}
	t.Log(err)
}

func TestNoMicrophone(t *testing.T) {
	if ds, _ := Devices(testLogger(t)); hasKind(ds, KindMicrophone) {
		t.Skip("this machine has a microphone")
	}
	_, err := Open(Config{Video: "none", Audio: "mic"})
	if !errors.Is(err, ErrNoMicrophone) {
		t.Fatalf("got %v, want ErrNoMicrophone", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "--audio test") {
		t.Errorf("message %q lacks the hint", msg)
	}
	// Asking for the null device by name is no way around it either.
	_, err = Open(Config{Audio: "mic", Mic: "null"})
	if !errors.Is(err, ErrNoMicrophone) {
		t.Fatalf("--mic null: got %v, want ErrNoMicrophone", err)
	}
	t.Log(err)
}

func TestDevicesExcludeNull(t *testing.T) {
	ds, err := Devices(testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		t.Logf("%+v", d)
		if strings.EqualFold(d.ID, "null") || strings.EqualFold(d.Label, "null") {
			t.Errorf("null device listed: %+v", d)
		}
		if d.Kind != KindCamera && d.Kind != KindMicrophone {
			t.Errorf("bad kind %q", d.Kind)
		}
	}
}

func hasKind(ds []Device, kind string) bool {
	for _, d := range ds {
		if d.Kind == kind {
			return true
		}
	}
	return false
}

func TestBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Video: "nonsense"},
		{Audio: "beep"},
		{Video: "/does/not/exist.y4m"},
		{Video: "/does/not/exist.ivf"},
		{Audio: "/does/not/exist.ogg"},
		{Video: "test", Width: 641},
	} {
		if _, err := Open(cfg); err == nil {
			t.Errorf("Open(%+v) succeeded", cfg)
		}
	}
	m, err := Open(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(m.Tracks()); n != 0 {
		t.Errorf("zero config: %d tracks, want 0", n)
	}
	m.Close()
}
