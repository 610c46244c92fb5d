package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/videochat/videochat/peer"
	"github.com/videochat/videochat/signal/proto"
)

// TestRecording: a native peer records a ~5 s call with another native
// peer; ffprobe reads the WebM without errors and finds VP8 video and Opus
// audio lasting about as long as the call.
func TestRecording(t *testing.T) {
	ffprobe, err := exec.LookPath("ffprobe")
	if err != nil {
		if ci() {
			t.Fatal("ffprobe not found (install ffmpeg)")
		}
		t.Skip("ffprobe not found: install ffmpeg to run this test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	_, url := startServer(ctx, t)
	dir := t.TempDir()
	const call = 5 * time.Second
	sender := start(t, joinArgs(url, "rec", "cam", "--video", "test", "--audio", "test")...)
	stats := filepath.Join(t.TempDir(), "rec.jsonl")
	launched := time.Now()
	rec := start(t, joinArgs(url, "rec", "rec", "--video", "none", "--audio", "none",
		"--record", dir, "--duration", call.String(), "--stats-json", stats)...)
	// When video flowed by: connecting is not timed (a loaded machine is
	// slow to start processes), the recording is judged against it.
	media := waitStats(ctx, t, stats, func(s peer.Snapshot) bool {
		return len(s.Peers) == 1 && s.Peers[0].Video.FramesReceived > 0
	}).Time
	if code := rec.wait(ctx); code != 0 {
		t.Fatalf("recorder exit %d", code)
	}
	ended := time.Now()
	sender.stop(5 * time.Second)

	files, _ := filepath.Glob(filepath.Join(dir, "rec-cam-*.webm"))
	if len(files) != 1 {
		t.Fatalf("want one rec-cam-<id>.webm in %s, got %v", dir, files)
	}
	out, err := exec.CommandContext(ctx, ffprobe, "-v", "error", "-show_streams", "-show_format", "-of", "json", files[0]).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v\n%s", err, out)
	}
	var probe struct {
		Streams []struct {
			CodecName string `json:"codec_name"`
		} `json:"streams"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &probe); err != nil {
		t.Fatalf("ffprobe printed errors or bad JSON: %v\n%s", err, out)
	}
	var codecs []string
	for _, s := range probe.Streams {
		codecs = append(codecs, s.CodecName)
	}
	if got := strings.Join(codecs, ","); got != "vp8,opus" && got != "opus,vp8" {
		t.Errorf("streams %q, want vp8 and opus", got)
	}
	d, _ := strconv.ParseFloat(probe.Format.Duration, 64)
	// The call lasts `call` from the recorder's start (after launched):
	// what it records runs from the first media (by media) to that end,
	// and never past its exit (seen at ended).
	lo := (call - media.Sub(launched)).Seconds() - 0.5
	hi := ended.Sub(launched).Seconds() + 0.5
	if d < lo || d > hi {
		t.Errorf("duration %.2fs, want about %v: [%.2f, %.2f] s (media from %v after the start)",
			d, call, lo, hi, media.Sub(launched).Round(time.Millisecond))
	}
	t.Logf("recorded %s: %s, %.2fs", filepath.Base(files[0]), strings.Join(codecs, "+"), d)
}

// TestInterruptLeaves: SIGINT makes a native peer leave cleanly; the
// others see peer-left at once, not when the server gives a dropped
// connection up: its resume grace is longer than this test may last, so
// a peer-left at all proves the leave (how long it took is logged).
func TestInterruptLeaves(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, url := startServer(ctx, t, "--resume-grace", "10m")
	obs := observe(ctx, t, url, "sig")
	p := start(t, joinArgs(url, "sig", "leaver", "--video", "test", "--audio", "none")...)
	joined := obs.next(ctx, proto.TypePeerJoined)
	p.signal(syscall.SIGINT)
	sent := time.Now()
	left := obs.next(ctx, proto.TypePeerLeft)
	took := time.Since(sent)
	if left.Peer == nil || left.Peer.ID != joined.Peer.ID {
		t.Fatalf("peer-left for %+v, want %+v", left.Peer, joined.Peer)
	}
	if code := p.wait(ctx); code != 0 {
		t.Errorf("exit %d after SIGINT, want 0", code)
	}
	t.Logf("SIGINT → peer-left: %v", took)
}

// observer is a bare WebSocket client in a room that only listens.
type observer struct {
	t    *testing.T
	msgs chan proto.Message
}

func observe(ctx context.Context, t *testing.T, base, room string) *observer {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.DialContext(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws/"+room, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	if err := ws.WriteJSON(proto.Message{Type: proto.TypeJoin, Version: proto.Version, Name: "observer"}); err != nil {
		t.Fatal(err)
	}
	o := &observer{t: t, msgs: make(chan proto.Message, 64)}
	go func() {
		defer close(o.msgs)
		for {
			var m proto.Message
			if err := ws.ReadJSON(&m); err != nil {
				return
			}
			o.msgs <- m
		}
	}()
	o.next(ctx, proto.TypeWelcome)
	return o
}

// next returns the next message of type typ, skipping others.
func (o *observer) next(ctx context.Context, typ string) proto.Message {
	o.t.Helper()
	for {
		select {
		case m, ok := <-o.msgs:
			if !ok {
				o.t.Fatalf("connection closed while waiting for %s", typ)
			}
			if m.Type == typ {
				return m
			}
		case <-ctx.Done():
			o.t.Fatalf("no %s: %v", typ, ctx.Err())
		}
	}
}

func ci() bool { return os.Getenv("CI") != "" && os.Getenv("CI") != "false" }
