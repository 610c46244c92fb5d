//go:build !nogui

package window_test

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/videochat/videochat/internal/xvfbtest"
	"github.com/videochat/videochat/view"
	"github.com/videochat/videochat/view/internal/vtest"
	"github.com/videochat/videochat/view/window"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func rgbaAt(img image.Image, x, y int) color.RGBA {
	r, g, b, _ := img.At(x, y).RGBA()
	return color.RGBA{byte(r >> 8), byte(g >> 8), byte(b >> 8), 255}
}

func near(c color.RGBA, r, g, b byte) bool {
	d := func(a, b byte) int {
		if a > b {
			return int(a - b)
		}
		return int(b - a)
	}
	return d(c.R, r) <= 12 && d(c.G, g) <= 12 && d(c.B, b) <= 12
}

// TestRunDrawsTilesAndCloses: Run shows each tile's picture in its colour
// (BT.601, as view.RGB), a dark tile for a peer without video, the marks
// of a peer's state where Decorate puts them, re-lays
// out when tiles change, returns ErrClosed when the window is closed and
// nil when its context ends; no goroutine stays behind.
func TestRunDrawsTilesAndCloses(t *testing.T) {
	d := xvfbtest.Start(t, 800, 600)
	d.Setenv(t)
	src := vtest.NewTiles()
	benState := view.State{MicOff: true, Speaking: true, Quality: view.QualityPoor}
	src.Set([]view.Tile{
		{ID: "a", Name: "ann", Frame: vtest.Solid(320, 240, 81, 90, 240), Seq: 1},
		{ID: "b", Name: "ben", State: benState},
	})
	done := make(chan error, 1)
	go func() { done <- window.Run(context.Background(), window.Config{Fullscreen: true}, src) }()

	wantR, wantG, wantB := view.RGB(81, 90, 240)
	check := func(n int, what string, ok func(img image.Image, rs []window.TileRects) error) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			img := d.Screenshot()
			err := ok(img, window.Rects(n, 800, 600))
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %v", what, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	check(2, "two tiles", func(img image.Image, rs []window.TileRects) error {
		fit := view.Fit(rs[0].Picture, 320, 240)
		if c := rgbaAt(img, (fit.Min.X+fit.Max.X)/2, (fit.Min.Y+fit.Max.Y)/2); !near(c, wantR, wantG, wantB) {
			return fmt.Errorf("ann's picture is %v, want (%d,%d,%d)", c, wantR, wantG, wantB)
		}
		p := rs[1].Picture
		if c := rgbaAt(img, (p.Min.X+p.Max.X)/2, (p.Min.Y+p.Max.Y)/2); !near(c, 28, 28, 28) {
			return fmt.Errorf("ben's tile is %v, want dark", c)
		}
		// ben's marks: each shows where no later mark covers it.
		nb := window.Caption("ben").Bounds()
		marks := window.Decorate(rs[1], nb.Dx(), nb.Dy(), benState).Marks
		for i, m := range marks {
			at := image.Pt((m.Rect.Min.X+m.Rect.Max.X)/2, (m.Rect.Min.Y+m.Rect.Max.Y)/2)
			covered := false
			for _, later := range marks[i+1:] {
				covered = covered || at.In(later.Rect)
			}
			if c := rgbaAt(img, at.X, at.Y); !covered && !near(c, m.Color.R, m.Color.G, m.Color.B) {
				return fmt.Errorf("ben's mark %v is %v, want %v", m.Rect, c, m.Color)
			}
		}
		return nil
	})
	src.Set([]view.Tile{{ID: "a", Name: "ann", Frame: vtest.Solid(320, 240, 81, 90, 240), Seq: 1}})
	check(1, "one tile", func(img image.Image, rs []window.TileRects) error {
		fit := view.Fit(rs[0].Picture, 320, 240)
		if c := rgbaAt(img, fit.Min.X+4, fit.Min.Y+4); !near(c, wantR, wantG, wantB) {
			return fmt.Errorf("ann's picture corner is %v", c)
		}
		return nil
	})
	if n, err := d.CloseWindows(); err != nil || n == 0 {
		t.Fatalf("close: %d, %v", n, err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, window.ErrClosed) {
			t.Fatalf("Run after the window closed: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after the window closed")
	}

	// Cancelling the context ends Run with nil.
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- window.Run(ctx, window.Config{}, src) }()
	time.Sleep(200 * time.Millisecond) // let it open; Run must also handle a cancel while opening
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}
