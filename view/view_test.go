package view_test

import (
	"fmt"
	"image"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/videochat/videochat/peer"
	"github.com/videochat/videochat/signal/proto"
	"github.com/videochat/videochat/view"
	"github.com/videochat/videochat/view/internal/vtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	ptVP8  = 96
	ptH264 = 106
)

var (
	codecVP8  = webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: ptVP8}
	codecH264 = webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, PayloadType: ptH264}
)

// track is one fake remote video track into a View.
type track struct {
	sink peer.TrackSink
	plis atomic.Int64
}

func openTrack(t *testing.T, v *view.View, id, name string, codec webrtc.RTPCodecParameters, others ...webrtc.RTPCodecParameters) *track {
	t.Helper()
	tr := &track{}
	tr.sink = v.Sink(peer.RemoteTrack{
		Peer: proto.PeerInfo{ID: id, Name: name}, Kind: webrtc.RTPCodecTypeVideo,
		Codec: codec, Codecs: append([]webrtc.RTPCodecParameters{codec}, others...), SSRC: 0x1234,
		RequestKeyFrame: func() { tr.plis.Add(1) },
	})
	if tr.sink == nil {
		t.Fatal("no sink for a video track")
	}
	return tr
}

func (tr *track) write(pkts []*rtp.Packet) {
	for _, p := range pkts {
		tr.sink.WriteRTP(p)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// tileOf returns the tile of peer id now.
func tileOf(v *view.View, id string) (view.Tile, bool) {
	ts, _ := v.Tiles()
	for _, t := range ts {
		if t.ID == id {
			return t, true
		}
	}
	return view.Tile{}, false
}

// colourAt is the Y, Cb, Cr of img at (x, y).
func colourAt(img *image.YCbCr, x, y int) (int, int, int) {
	c := img.YCbCrAt(x, y)
	return int(c.Y), int(c.Cb), int(c.Cr)
}

func near(a, b, tol int) bool { return a-b <= tol && b-a <= tol }

// waitColour waits until the tile of id shows a w×h picture of colour
// (y, cb, cr) in its centre.
func waitColour(t *testing.T, v *view.View, id string, w, h, y, cb, cr int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("tile %s shows %dx%d (%d,%d,%d)", id, w, h, y, cb, cr), func() error {
		tl, ok := tileOf(v, id)
		if !ok {
			return fmt.Errorf("no tile")
		}
		if tl.Frame == nil {
			return fmt.Errorf("no frame")
		}
		if tl.Frame.Rect.Dx() != w || tl.Frame.Rect.Dy() != h {
			return fmt.Errorf("frame is %v", tl.Frame.Rect)
		}
		gy, gcb, gcr := colourAt(tl.Frame, w/2, h/2)
		if !near(gy, y, 6) || !near(gcb, cb, 6) || !near(gcr, cr, 6) {
			return fmt.Errorf("centre is (%d,%d,%d)", gy, gcb, gcr)
		}
		return nil
	})
}

// TestDecodeBothCodecs: VP8 (libvpx) and H.264 (libavcodec) streams, each
// packetized into RTP, come out as their picture on the peer's tile.
func TestDecodeBothCodecs(t *testing.T) {
	for _, c := range []webrtc.RTPCodecParameters{codecVP8, codecH264} {
		t.Run(c.MimeType, func(t *testing.T) {
			v := view.New(view.Config{})
			tr := openTrack(t, v, "p1", "alice", c)
			enc := vtest.NewEncoder(t, c.MimeType, 320, 240)
			pk := vtest.NewPacketizer(c.MimeType, uint8(c.PayloadType))
			for i := 0; i < 5; i++ {
				tr.write(pk.Packets(enc.Encode(t, vtest.Solid(320, 240, 81, 90, 240), i == 0))) // red
			}
			waitColour(t, v, "p1", 320, 240, 81, 90, 240)
			tr.sink.Close()
			if _, ok := tileOf(v, "p1"); ok {
				t.Fatal("the tile stayed after its track closed")
			}
			if n := v.OpenDecoders(); n != 0 {
				t.Fatalf("%d decoders open after close", n)
			}
			if s := v.Stats(); s.Total.FramesDecoded < 5 {
				t.Fatalf("frames decoded %d, want 5", s.Total.FramesDecoded)
			}
		})
	}
}

// TestLossWaitsForKeyFrame: after a lost packet the view drops frames
// (counted), asks for a key frame at a bounded rate, and shows pictures
// again from the next key frame on.
func TestLossWaitsForKeyFrame(t *testing.T) {
	now := time.Unix(1000, 0)
	var clockMu sync.Mutex
	clock := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
	advance := func(d time.Duration) { clockMu.Lock(); now = now.Add(d); clockMu.Unlock() }
	v := view.New(view.Config{Now: clock, StaleAfter: time.Hour})
	tr := openTrack(t, v, "p1", "alice", codecVP8)
	defer tr.sink.Close()
	enc := vtest.NewEncoder(t, "video/VP8", 320, 240)
	pk := vtest.NewPacketizer("video/VP8", ptVP8)
	green := vtest.Solid(320, 240, 145, 54, 34)
	tr.write(pk.Packets(enc.Encode(t, green, true)))
	waitColour(t, v, "p1", 320, 240, 145, 54, 34)

	// Lose the first packet of a big frame; the frames after it depend on it.
	noisy := vtest.Solid(320, 240, 41, 240, 110) // blue
	for i := range noisy.Y {
		noisy.Y[i] = byte(rand.IntN(200) + 20)
	}
	pkts := pk.Packets(enc.Encode(t, noisy, false))
	if len(pkts) < 2 {
		t.Fatalf("frame fits one packet (%d); need more for the test", len(pkts))
	}
	tr.write(pkts[1:])
	for i := 0; i < 10; i++ {
		advance(150 * time.Millisecond) // past the hole timeout; 2 PLIs may pass per 300 ms
		tr.write(pk.Packets(enc.Encode(t, vtest.Solid(320, 240, 41, 240, 110), false)))
	}
	s := v.Stats().Total
	if s.LostPackets < 1 || s.FramesIncomplete+s.FramesWaitKey < 10 {
		t.Fatalf("after a loss: %+v", s)
	}
	if p := tr.plis.Load(); p < 2 || p > 8 {
		t.Fatalf("%d key frame requests over 1.5 s of waiting; want a few (rate-limited)", p)
	}
	if tl, _ := tileOf(v, "p1"); tl.Frame == nil || !near(int(tl.Frame.YCbCrAt(160, 120).Y), 145, 6) {
		t.Fatal("a frame after the loss was shown before a key frame")
	}
	tr.write(pk.Packets(enc.Encode(t, vtest.Solid(320, 240, 41, 240, 110), true)))
	waitColour(t, v, "p1", 320, 240, 41, 240, 110)
}

// TestReorder: packets swapped within a frame still make the frame.
func TestReorder(t *testing.T) {
	v := view.New(view.Config{})
	tr := openTrack(t, v, "p1", "alice", codecH264)
	defer tr.sink.Close()
	enc := vtest.NewEncoder(t, "video/H264", 640, 480)
	pk := vtest.NewPacketizer("video/H264", ptH264)
	img := vtest.Solid(640, 480, 145, 54, 34)
	for i := range img.Y {
		img.Y[i] = byte(rand.IntN(200) + 20)
	}
	pkts := pk.Packets(enc.Encode(t, img, true))
	if len(pkts) < 3 {
		t.Fatalf("only %d packets", len(pkts))
	}
	pkts[1], pkts[2] = pkts[2], pkts[1]
	tr.write(pkts)
	waitFor(t, "a frame", func() error {
		if s := v.Stats().Total; s.FramesDecoded != 1 || s.LostPackets != 0 {
			return fmt.Errorf("%+v", s)
		}
		return nil
	})
}

// TestChurnNoLeak: tiles come and go with their peers' tracks, in name
// order; nothing stays behind (goroutines: goleak in TestMain; decoders:
// OpenDecoders).
func TestChurnNoLeak(t *testing.T) {
	v := view.New(view.Config{})
	names := []string{"dora", "carl", "bea", "al"}
	var open []*track
	for round := 0; round < 3; round++ {
		for i, n := range names {
			c := codecVP8
			if i%2 == 1 {
				c = codecH264
			}
			tr := openTrack(t, v, fmt.Sprintf("%s-%d", n, round), n, c)
			enc := vtest.NewEncoder(t, c.MimeType, 160, 120)
			pk := vtest.NewPacketizer(c.MimeType, uint8(c.PayloadType))
			tr.write(pk.Packets(enc.Encode(t, vtest.Solid(160, 120, 145, 54, 34), true)))
			open = append(open, tr)
		}
		waitFor(t, "four tiles with pictures", func() error {
			ts, _ := v.Tiles()
			if len(ts) != 4 {
				return fmt.Errorf("%d tiles", len(ts))
			}
			for i, want := range []string{"al", "bea", "carl", "dora"} {
				if ts[i].Name != want || ts[i].Frame == nil {
					return fmt.Errorf("tile %d is %q (frame %v)", i, ts[i].Name, ts[i].Frame != nil)
				}
			}
			return nil
		})
		if d := v.OpenDecoders(); d != 4 {
			t.Fatalf("%d decoders for 4 tracks", d)
		}
		_, ver := v.Tiles()
		open[1].sink.Close() // "carl" leaves
		ts, ver2 := v.Tiles()
		if len(ts) != 3 || ver2 == ver {
			t.Fatalf("after a leave: %d tiles, version %d→%d", len(ts), ver, ver2)
		}
		for _, tr := range append(open[:1], open[2:]...) {
			tr.sink.Close()
		}
		open = open[:0]
	}
	if ts, _ := v.Tiles(); len(ts) != 0 {
		t.Fatalf("%d tiles left", len(ts))
	}
	if d, s := v.OpenDecoders(), v.OpenSinks(); d != 0 || s != 0 {
		t.Fatalf("left open: %d decoders, %d sinks", d, s)
	}
}

// TestStaleShowsNoFrame: a peer whose video stops shows no frame (a dark
// tile with its name), not the last picture.
func TestStaleShowsNoFrame(t *testing.T) {
	now := time.Unix(1000, 0)
	var mu sync.Mutex
	v := view.New(view.Config{Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	tr := openTrack(t, v, "p1", "alice", codecVP8)
	defer tr.sink.Close()
	enc := vtest.NewEncoder(t, "video/VP8", 160, 120)
	pk := vtest.NewPacketizer("video/VP8", ptVP8)
	tr.write(pk.Packets(enc.Encode(t, vtest.Solid(160, 120, 145, 54, 34), true)))
	waitColour(t, v, "p1", 160, 120, 145, 54, 34)
	mu.Lock()
	now = now.Add(2 * time.Second)
	mu.Unlock()
	tl, ok := tileOf(v, "p1")
	if !ok || tl.Frame != nil || tl.Name != "alice" {
		t.Fatalf("after 2 s without video: tile %+v (present %v)", tl, ok)
	}
}

// fakeClock is an AudioClock the test moves.
type fakeClock struct {
	mu sync.Mutex
	at time.Time
	ok bool
}

func (c *fakeClock) SenderTimeNow(string) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at, c.ok
}

func (c *fakeClock) set(t time.Time) { c.mu.Lock(); c.at, c.ok = t, true; c.mu.Unlock() }

// TestLipSync: with a sender report mapping RTP time to the sender's
// clock, a frame is shown exactly when the audio clock reaches its sender
// time — not before (held, counted), and within a frame after.
func TestLipSync(t *testing.T) {
	ac := &fakeClock{}
	now := time.Unix(5000, 0)
	var mu sync.Mutex
	v := view.New(view.Config{AudioClock: ac, MaxHold: time.Hour, StaleAfter: time.Hour,
		Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	tr := openTrack(t, v, "p1", "alice", codecVP8)
	defer tr.sink.Close()
	enc := vtest.NewEncoder(t, "video/VP8", 160, 120)
	pk := vtest.NewPacketizer("video/VP8", ptVP8)
	sender0 := time.Unix(1_700_000_000, 0)
	tr.sink.SenderReport(sender0, pk.TS) // RTP ts of frame 0 = sender0
	ac.set(sender0.Add(-time.Second))    // audio is a second behind

	colours := [][3]byte{{81, 90, 240}, {145, 54, 34}, {41, 240, 110}}
	for i, c := range colours {
		tr.write(pk.Packets(enc.Encode(t, vtest.Solid(160, 120, c[0], c[1], c[2]), i == 0)))
	}
	waitFor(t, "3 frames decoded", func() error {
		if n := v.Stats().Total.FramesDecoded; n != 3 {
			return fmt.Errorf("%d", n)
		}
		return nil
	})
	frameAt := func(i int) time.Time { return sender0.Add(time.Duration(i) * time.Second / 30) }
	if tl, _ := tileOf(v, "p1"); tl.Frame != nil {
		t.Fatal("a frame showed while the audio was a second behind it")
	}
	for i, c := range colours {
		ac.set(frameAt(i).Add(-time.Millisecond))
		tl, _ := tileOf(v, "p1")
		if i == 0 && tl.Frame != nil {
			t.Fatalf("frame %d showed 1 ms before its time", i)
		}
		if i > 0 && int(tl.Frame.Y[0]) == int(c[0]) {
			t.Fatalf("frame %d showed 1 ms before its time", i)
		}
		ac.set(frameAt(i))
		tl, _ = tileOf(v, "p1")
		if tl.Frame == nil || !near(int(tl.Frame.Y[0]), int(c[0]), 6) {
			t.Fatalf("frame %d not shown at its time", i)
		}
	}
	if h := v.Stats().Total.FramesHeld; h < 1 {
		t.Fatalf("frames held %d", h)
	}
}

// TestLipSyncBounded: a frame waits at most MaxHold for a stuck audio
// clock.
func TestLipSyncBounded(t *testing.T) {
	ac := &fakeClock{}
	now := time.Unix(5000, 0)
	var mu sync.Mutex
	v := view.New(view.Config{AudioClock: ac, MaxHold: 300 * time.Millisecond, StaleAfter: time.Hour,
		Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	tr := openTrack(t, v, "p1", "alice", codecVP8)
	defer tr.sink.Close()
	enc := vtest.NewEncoder(t, "video/VP8", 160, 120)
	pk := vtest.NewPacketizer("video/VP8", ptVP8)
	tr.sink.SenderReport(time.Unix(1_700_000_000, 0), pk.TS)
	ac.set(time.Unix(1_600_000_000, 0))
	tr.write(pk.Packets(enc.Encode(t, vtest.Solid(160, 120, 81, 90, 240), true)))
	waitFor(t, "decoded", func() error {
		if n := v.Stats().Total.FramesDecoded; n != 1 {
			return fmt.Errorf("%d", n)
		}
		return nil
	})
	if tl, _ := tileOf(v, "p1"); tl.Frame != nil {
		t.Fatal("shown before its time")
	}
	mu.Lock()
	now = now.Add(301 * time.Millisecond)
	mu.Unlock()
	if tl, _ := tileOf(v, "p1"); tl.Frame == nil {
		t.Fatal("held past MaxHold")
	}
}

var _ = os.Getenv
var _ = runtime.NumGoroutine

// TestPresentWithoutVideo: a peer in the call without video has a tile
// (no frame); its tile stays dark when its video track ends and goes when
// it leaves.
func TestPresentWithoutVideo(t *testing.T) {
	v := view.New(view.Config{})
	v.SetPresent("p1", "alice", true)
	if tl, ok := tileOf(v, "p1"); !ok || tl.Frame != nil || tl.Name != "alice" {
		t.Fatalf("present peer: %+v %v", tl, ok)
	}
	tr := openTrack(t, v, "p1", "alice", codecVP8)
	enc := vtest.NewEncoder(t, "video/VP8", 160, 120)
	pk := vtest.NewPacketizer("video/VP8", ptVP8)
	tr.write(pk.Packets(enc.Encode(t, vtest.Solid(160, 120, 145, 54, 34), true)))
	waitColour(t, v, "p1", 160, 120, 145, 54, 34)
	tr.sink.Close()
	if tl, ok := tileOf(v, "p1"); !ok || tl.Frame != nil {
		t.Fatalf("after its video track ended: %+v %v (want a dark tile)", tl, ok)
	}
	v.SetPresent("p1", "alice", false)
	if _, ok := tileOf(v, "p1"); ok {
		t.Fatal("tile stayed after the peer left")
	}
}

// TestStateCameraOff: a tile carries its peer's State; with the camera off
// it shows no picture although frames still arrive, and the newest frame
// again once the camera is on. Each change of State changes the version.
func TestStateCameraOff(t *testing.T) {
	v := view.New(view.Config{})
	v.SetState("nobody", view.State{MicOff: true}) // no tile: ignored
	tr := openTrack(t, v, "p1", "alice", codecVP8)
	defer tr.sink.Close()
	enc := vtest.NewEncoder(t, "video/VP8", 160, 120)
	pk := vtest.NewPacketizer("video/VP8", ptVP8)
	tr.write(pk.Packets(enc.Encode(t, vtest.Solid(160, 120, 145, 54, 34), true)))
	waitColour(t, v, "p1", 160, 120, 145, 54, 34)
	if len(v.Stats().Peers) != 1 {
		t.Fatalf("SetState made a tile: %+v", v.Stats().Peers)
	}
	_, ver := v.Tiles()
	st := view.State{MicOff: true, CameraOff: true, Speaking: true, Quality: view.QualityFair}
	v.SetState("p1", st)
	_, ver2 := v.Tiles()
	if ver2 == ver {
		t.Fatal("the version did not change with the state")
	}
	v.SetState("p1", st)
	if _, ver3 := v.Tiles(); ver3 != ver2 {
		t.Fatal("the version changed without a change of state")
	}
	tr.write(pk.Packets(enc.Encode(t, vtest.Solid(160, 120, 81, 90, 240), false)))
	waitFor(t, "the new frame decoded", func() error {
		if n := v.Stats().Peers["p1"].FramesDecoded; n < 2 {
			return fmt.Errorf("%d frames decoded", n)
		}
		return nil
	})
	tl, ok := tileOf(v, "p1")
	if !ok || tl.Frame != nil || tl.State != st {
		t.Fatalf("camera off while frames arrive: %+v %v (want no frame, state %+v)", tl, ok, st)
	}
	v.SetState("p1", view.State{})
	waitColour(t, v, "p1", 160, 120, 81, 90, 240)
}

// TestQualityBars: the quality mark's lit bars.
func TestQualityBars(t *testing.T) {
	for q, want := range map[string]int{"good": 3, "fair": 2, "poor": 1, "": 0, "bogus": 0} {
		if got := view.QualityBars(q); got != want {
			t.Errorf("QualityBars(%q) = %d, want %d", q, got, want)
		}
	}
}
