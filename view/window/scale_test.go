//go:build !nogui

package window_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/xvfbtest"
	"github.com/videochat/videochat/view"
	"github.com/videochat/videochat/view/internal/vtest"
	"github.com/videochat/videochat/view/window"
)

// ycc is a colour as the decoders give it (BT.601 studio range).
type ycc [3]byte

// quads is a w×h 4:2:0 picture in four quadrants of colours q (top left,
// top right, bottom left, bottom right), cut out of a larger picture whose
// border of 8 pixels has the colour edge (its strides are wider than the
// picture: a renderer that gets them wrong shows the edge or skews).
func quads(w, h int, q [4]ycc, edge ycc) *image.YCbCr {
	const b = 8
	img := image.NewYCbCr(image.Rect(0, 0, w+2*b, h+2*b), image.YCbCrSubsampleRatio420)
	at := func(x, y int) ycc {
		x, y = x-b, y-b
		if x < 0 || y < 0 || x >= w || y >= h {
			return edge
		}
		i := 0
		if x >= w/2 {
			i++
		}
		if y >= h/2 {
			i += 2
		}
		return q[i]
	}
	for y := 0; y < h+2*b; y++ {
		for x := 0; x < w+2*b; x++ {
			c := at(x, y)
			img.Y[img.YOffset(x, y)] = c[0]
			img.Cb[img.COffset(x, y)], img.Cr[img.COffset(x, y)] = c[1], c[2]
		}
	}
	return img.SubImage(image.Rect(b, b, w+b, h+b)).(*image.YCbCr)
}

// syncBuf is a log sink Run may write to while the test reads it.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestPicturesScaled: pictures shown smaller (640×480) and larger
// (160×120) than they are, and cut out of a larger frame, land with each
// quadrant's colour in its quarter of the fitted area and dark bars beside
// it, on both of the software renderer's paths (libyuv at the size shown,
// and SDL's IYUV textures). Then only one tile's frame changes (the
// version stays, as view.View's does when only frames change: the software
// renderer then redraws that picture alone): the new picture shows, and the
// other tile, the tile without video and the bars are still as drawn.
func TestPicturesScaled(t *testing.T) {
	for _, iyuv := range []bool{false, true} {
		t.Run(fmt.Sprintf("iyuv=%v", iyuv), func(t *testing.T) { testPicturesScaled(t, iyuv) })
	}
}

func testPicturesScaled(t *testing.T, iyuv bool) {
	d := xvfbtest.Start(t, 800, 600)
	d.Setenv(t)
	edge := ycc{235, 128, 128} // white: must not show
	red, green, blue, yellow := ycc{81, 90, 240}, ycc{145, 54, 34}, ycc{41, 240, 110}, ycc{210, 16, 146}
	grey := ycc{126, 128, 128}
	a1 := quads(640, 480, [4]ycc{red, green, blue, yellow}, edge)
	a2 := quads(640, 480, [4]ycc{yellow, blue, green, red}, edge)
	b := quads(160, 120, [4]ycc{green, grey, yellow, blue}, edge)
	src := vtest.NewTiles()
	src.SetFrames([]view.Tile{
		{ID: "a", Name: "ann", Frame: a1, Seq: 1},
		{ID: "b", Name: "ben", Frame: b, Seq: 1},
		{ID: "c", Name: "cy"},
	})
	var logs syncBuf
	cfg := window.Config{Fullscreen: true, RenderDriver: "software", YUVTextures: iyuv,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- window.Run(ctx, cfg, src) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	rs := window.Rects(3, 800, 600)
	// picture checks the centre of each quadrant of the picture fitted in
	// tile i, and the dark bars left and right of it.
	picture := func(img image.Image, i, w, h int, q [4]ycc) error {
		fit := view.Fit(rs[i].Picture, w, h)
		if fit.Dx() == w && fit.Dy() == h {
			return fmt.Errorf("tile %d shows %dx%d at its own size: pick another window size", i, w, h)
		}
		for k, c := range q {
			x := fit.Min.X + fit.Dx()/4 + k%2*fit.Dx()/2
			y := fit.Min.Y + fit.Dy()/4 + k/2*fit.Dy()/2
			r, g, b := view.RGB(c[0], c[1], c[2])
			if got := rgbaAt(img, x, y); !near(got, r, g, b) {
				return fmt.Errorf("tile %d quadrant %d at (%d,%d) is %v, want (%d,%d,%d)", i, k, x, y, got, r, g, b)
			}
		}
		// The picture's own edge rows and columns: inside its quadrants' colours, no white.
		for _, p := range []image.Point{fit.Min, {fit.Max.X - 1, fit.Min.Y}, {fit.Min.X, fit.Max.Y - 1}, fit.Max.Sub(image.Pt(1, 1))} {
			if got := rgbaAt(img, p.X, p.Y); near(got, 255, 255, 255) { // edge, white
				return fmt.Errorf("tile %d corner %v is white: the frame's border shows", i, p)
			}
		}
		pic := rs[i].Picture
		midX, midY := (fit.Min.X+fit.Max.X)/2, (fit.Min.Y+fit.Max.Y)/2
		var bars []image.Point
		if fit.Min.X-pic.Min.X >= 2 {
			bars = append(bars, image.Pt((pic.Min.X+fit.Min.X)/2, midY), image.Pt((fit.Max.X+pic.Max.X)/2, midY))
		}
		if fit.Min.Y-pic.Min.Y >= 2 {
			bars = append(bars, image.Pt(midX, (pic.Min.Y+fit.Min.Y)/2), image.Pt(midX, (fit.Max.Y+pic.Max.Y)/2))
		}
		if len(bars) == 0 {
			return fmt.Errorf("tile %d: no bars beside %v in %v: pick another window size", i, fit, pic)
		}
		for _, p := range bars {
			if got := rgbaAt(img, p.X, p.Y); !near(got, 28, 28, 28) {
				return fmt.Errorf("tile %d: bar at %v is %v, want dark", i, p, got)
			}
		}
		return nil
	}
	dark := func(img image.Image) error {
		p := rs[2].Picture
		if got := rgbaAt(img, (p.Min.X+p.Max.X)/2, (p.Min.Y+p.Max.Y)/2); !near(got, 28, 28, 28) {
			return fmt.Errorf("the tile without video is %v, want dark", got)
		}
		return nil
	}
	check := func(what string, ok func(img image.Image) error) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			err := ok(d.Screenshot())
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %v", what, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	check("first frames", func(img image.Image) error {
		return errors2(picture(img, 0, 640, 480, [4]ycc{red, green, blue, yellow}),
			picture(img, 1, 160, 120, [4]ycc{green, grey, yellow, blue}), dark(img))
	})
	if want := fmt.Sprintf("libyuv=%v", !iyuv); !strings.Contains(logs.String(), want) {
		t.Fatalf("Run's log has no %q: %s", want, logs.String())
	}
	src.SetFrames([]view.Tile{
		{ID: "a", Name: "ann", Frame: a2, Seq: 2},
		{ID: "b", Name: "ben", Frame: b, Seq: 1},
		{ID: "c", Name: "cy"},
	})
	check("ann's next frame", func(img image.Image) error {
		return errors2(picture(img, 0, 640, 480, [4]ycc{yellow, blue, green, red}),
			picture(img, 1, 160, 120, [4]ycc{green, grey, yellow, blue}), dark(img))
	})
}

// errors2 is the first non-nil error.
func errors2(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
