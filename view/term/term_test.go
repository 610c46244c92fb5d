package term

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/videochat/videochat/view"
	"github.com/videochat/videochat/view/internal/vtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// syncBuffer is a bytes.Buffer safe for the renderer and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// run draws src in mode until cond holds on the output, then stops.
func run(t *testing.T, mode string, src Source, cond func(string) bool) string {
	t.Helper()
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Out: out, Mode: mode, Size: func() (int, int, error) { return 80, 30, nil }}, src)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !cond(out.String()) {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("output never matched; got %q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// TestBlocks: the picture as half-blocks in its colours, the name, the
// scroll region for chat (rows 25–30 of 30), and everything given back at
// the end.
func TestBlocks(t *testing.T) {
	r, g, b := view.RGB(81, 90, 240)
	red := fmt.Sprintf("\x1b[38;2;%d;%d;%dm", r, g, b)
	src := vtest.NewTiles([]view.Tile{{ID: "1", Name: "alice", Frame: vtest.Solid(64, 48, 81, 90, 240), Seq: 1}}...)
	out := run(t, "blocks", src, func(s string) bool { return strings.Contains(s, "alice") })
	for _, want := range []string{"\x1b[25;30r", red, "▀", "a", "\x1b7", "\x1b8"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if !strings.HasSuffix(out, "\x1b[0m\x1b[r\x1b[30;1H") {
		t.Errorf("the scroll region was not reset at the end: %q", out[max(0, len(out)-40):])
	}
}

// TestKitty: in kitty mode pictures go out as kitty graphics commands in
// chunks of at most 4096 bytes of base64.
func TestKitty(t *testing.T) {
	src := vtest.NewTiles([]view.Tile{{ID: "1", Name: "bob", Frame: vtest.Solid(320, 240, 145, 54, 34), Seq: 1}}...)
	out := run(t, "kitty", src, func(s string) bool { return strings.Contains(s, "\x1b_Ga=T,f=24,s=320,v=240") })
	for _, cmd := range strings.Split(out, "\x1b_G")[1:] {
		end := strings.Index(cmd, "\x1b\\")
		if end < 0 {
			t.Fatal("unterminated graphics command")
		}
		if _, payload, ok := strings.Cut(cmd[:end], ";"); ok && len(payload) > 4096 {
			t.Fatalf("chunk of %d bytes", len(payload))
		}
	}
	if strings.Contains(out, "▀") {
		t.Error("half-blocks drawn in kitty mode")
	}
}

func TestDetectMode(t *testing.T) {
	env := vtest.Env
	for _, c := range []struct {
		env  func(string) string
		want string
	}{
		{env("TERM", "xterm-kitty"), "kitty"},
		{env("KITTY_WINDOW_ID", "1", "TERM", "xterm-256color"), "kitty"},
		{env("KITTY_WINDOW_ID", "1", "TMUX", "/tmp/x"), "blocks"},
		{env("TERM", "screen-256color", "KITTY_WINDOW_ID", "1"), "blocks"},
		{env("TERM", "xterm-256color"), "blocks"},
		{env("TERM", "foot"), "sixel"},
		{env("TERM", "mlterm"), "sixel"},
		{env("TERM", "xterm-256color", "TERM_PROGRAM", "WezTerm"), "sixel"},
		{env("TERM", "foot", "TMUX", "/tmp/x"), "blocks"},
	} {
		if got := DetectMode(c.env); got != c.want {
			t.Errorf("DetectMode = %s, want %s", got, c.want)
		}
	}
}

// TestCaptionState: the caption row shows the muted mark left of the
// centred name in red, the quality bars at the right end (two of three lit
// for fair), and turns green while the peer talks; without state it is the
// name alone on grey.
func TestCaptionState(t *testing.T) {
	text := func(row []cell) string {
		var b strings.Builder
		for _, c := range row {
			b.WriteRune(c.ch)
		}
		return b.String()
	}
	var r renderer
	row := make([]cell, 40)
	r.caption(view.Tile{Name: "alice", State: view.State{MicOff: true, Speaking: true, Quality: view.QualityFair}}, row)
	if got, want := text(row), "         [muted] alice              ▂▄▆ "; got != want {
		t.Fatalf("caption %q, want %q", got, want)
	}
	for i, c := range row {
		if c.bg != colSpeaking {
			t.Fatalf("cell %d background %v, want the talking green", i, c.bg)
		}
	}
	if row[9].fg != colMuted || row[17].fg != colText {
		t.Errorf("muted mark %v, name %v", row[9].fg, row[17].fg)
	}
	if row[36].fg != qualityColour[2] || row[37].fg != qualityColour[2] || row[38].fg != colUnlit {
		t.Errorf("quality bars %v %v %v, want two lit for fair", row[36].fg, row[37].fg, row[38].fg)
	}
	r.caption(view.Tile{Name: "alice"}, row)
	if got := text(row); strings.TrimSpace(got) != "alice" || strings.Index(got, "alice") != 17 || row[0].bg != colCaption {
		t.Fatalf("caption without state %q (bg %v)", got, row[0].bg)
	}
}
