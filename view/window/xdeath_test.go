//go:build !nogui

package window_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/xvfbtest"
	"github.com/videochat/videochat/view"
	"github.com/videochat/videochat/view/internal/vtest"
	"github.com/videochat/videochat/view/window"
)

const xdeathChild = "VC_WINDOW_XDEATH_CHILD"

// TestXServerDeathEndsOnlyTheView: the X server under a window is
// killed; Run returns ErrDisplayLost and the process lives on (before,
// Xlib's I/O error handler printed "X connection to :N broken" and exited
// with status 1). The
// window runs in a child process (this test binary again), since SDL is
// left initialised on the dead display (see sdl.go's invariants).
func TestXServerDeathEndsOnlyTheView(t *testing.T) {
	if os.Getenv(xdeathChild) == "1" {
		runDyingWindow()
		return
	}
	d := xvfbtest.Start(t, 320, 240)
	cmd := d.Cmd(os.Args[0], "-test.run=^TestXServerDeathEndsOnlyTheView$", "-test.count=1")
	cmd.Env = append(cmd.Env, xdeathChild+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 16)
	var mu sync.Mutex
	var stdout strings.Builder
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			mu.Lock()
			stdout.WriteString(sc.Text() + "\n")
			mu.Unlock()
			select {
			case lines <- sc.Text():
			default:
			}
		}
		exited <- cmd.Wait()
	}()
	dump := func() string {
		mu.Lock()
		defer mu.Unlock()
		return "stdout:\n" + stdout.String() + "stderr:\n" + stderr.String()
	}
	wait := func(what string, ok func(string) bool) {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			select {
			case l := <-lines:
				if ok(l) {
					return
				}
			case err := <-exited:
				t.Fatalf("child exited (%v) before %s\n%s", err, what, dump())
			case <-deadline:
				_ = cmd.Process.Kill()
				t.Fatalf("no %s within 30s\n%s", what, dump())
			}
		}
	}
	wait("presented frame", func(l string) bool { return l == "PRESENTED" })
	d.Kill()
	wait("return from Run", func(l string) bool { return strings.HasPrefix(l, "RUN RETURNED") })
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("child failed after the X server died: %v\n%s", err, dump())
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("child did not finish\n%s", dump())
	}
	s := dump()
	t.Log(s)
	for _, want := range []string{"RUN RETURNED: " + window.ErrDisplayLost.Error(), "STILL HERE"} {
		if !strings.Contains(s, want) {
			t.Errorf("child output lacks %q\n%s", want, s)
		}
	}
	if strings.Contains(s, "XIO") || strings.Contains(s, "X connection") {
		t.Errorf("Xlib's fatal I/O error handler ran\n%s", s)
	}
}

// runDyingWindow is the child: a window until the X server dies.
func runDyingWindow() {
	src := vtest.NewTiles()
	src.Set([]view.Tile{{ID: "a", Name: "ann", Frame: vtest.Solid(160, 120, 81, 90, 240), Seq: 1}})
	var once sync.Once
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	seq := uint64(1)
	err := window.Run(ctx, window.Config{
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)),
		OnPresent: func() {
			once.Do(func() { fmt.Println("PRESENTED") })
		},
	}, tickingTiles{src, &seq})
	fmt.Printf("RUN RETURNED: %v\n", err)
	if !errors.Is(err, window.ErrDisplayLost) {
		os.Exit(3)
	}
	// The process goes on: the Go runtime and the standard library work.
	time.Sleep(100 * time.Millisecond)
	fmt.Println("STILL HERE")
}

// tickingTiles gives the tile a new frame number on each look, so the
// window keeps drawing (X requests) until the server is gone.
type tickingTiles struct {
	src *vtest.Tiles
	seq *uint64
}

func (s tickingTiles) Tiles() ([]view.Tile, uint64) {
	tiles, ver := s.src.Tiles()
	*s.seq++
	for i := range tiles {
		tiles[i].Seq = *s.seq
	}
	return tiles, ver
}
