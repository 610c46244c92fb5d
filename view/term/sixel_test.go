package term

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/videochat/videochat/view"
	"github.com/videochat/videochat/view/internal/vtest"
)

// requireSixel2png returns the path of libsixel's sixel2png (Debian's
// libsixel-bin), the independent decoder the sixel test checks the images
// with; missing, it fails the test under CI=true and skips it otherwise.
func requireSixel2png(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("sixel2png")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("sixel2png (libsixel-bin) is missing: run scripts/deps.sh test")
		}
		t.Skip("SKIPPED: sixel2png (libsixel-bin) is missing: run scripts/deps.sh test")
	}
	return p
}

// sixelImage is one sixel image found in the output, decoded.
type sixelImage struct {
	cell image.Point // where the cursor was put for it (0-based)
	img  image.Image
}

var sixelRe = regexp.MustCompile("\x1b\\[(\\d+);(\\d+)H(\x1bP[^\x1b]*\x1b\\\\)")

// decodeSixels decodes, with sixel2png, every sixel image in out that is
// drawn at an explicit cursor position.
func decodeSixels(t *testing.T, tool, out string) []sixelImage {
	t.Helper()
	var imgs []sixelImage
	for _, m := range sixelRe.FindAllStringSubmatch(out, -1) {
		row, _ := strconv.Atoi(m[1])
		col, _ := strconv.Atoi(m[2])
		cmd := exec.Command(tool)
		cmd.Stdin = strings.NewReader(m[3])
		var pngOut, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &pngOut, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("sixel2png: %v: %s", err, errOut.String())
		}
		img, err := png.Decode(&pngOut)
		if err != nil {
			t.Fatalf("sixel2png output: %v", err)
		}
		imgs = append(imgs, sixelImage{cell: image.Pt(col-1, row-1), img: img})
	}
	return imgs
}

// halves is a w×h picture whose left half is (y, cb, cr) a and right half b.
func halves(w, h int, a, b [3]byte) *image.YCbCr {
	img := vtest.Solid(w, h, a[0], a[1], a[2])
	for y := 0; y < h; y++ {
		for x := w / 2; x < w; x++ {
			img.Y[y*img.YStride+x] = b[0]
			ci := img.COffset(x, y)
			img.Cb[ci], img.Cr[ci] = b[1], b[2]
		}
	}
	return img
}

// TestSixel: in sixel mode each tile's picture is one sixel image, which
// libsixel decodes to the picture's size with the remote pattern's colours
// (within the palette's step) in its halves, and which lies centred in
// that tile's picture cells; when a peer's video stops, the cells of its
// picture are written again (dark), so no frozen frame stays.
func TestSixel(t *testing.T) {
	tool := requireSixel2png(t)
	const cols, rows, cw, ch = 80, 30, 8, 16
	blue, orange, green := [3]byte{81, 90, 240}, [3]byte{145, 54, 34}, [3]byte{112, 72, 58}
	alice := halves(160, 120, blue, orange)
	bob := vtest.Solid(96, 72, green[0], green[1], green[2])
	src := vtest.NewTiles([]view.Tile{
		{ID: "1", Name: "alice", Frame: alice, Seq: 1},
		{ID: "2", Name: "bob", Frame: bob, Seq: 1},
	}...)
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Out: out, Mode: "sixel",
			Size:     func() (int, int, error) { return cols, rows, nil },
			CellSize: func() (int, int) { return cw, ch }}, src)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	waitFor := func(what string, from int, cond func(string) bool) string {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			s := out.String()[from:]
			if cond(s) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: never; output %q", what, s)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	first := waitFor("two sixel images", 0, func(s string) bool { return len(sixelRe.FindAllString(s, -1)) >= 2 })
	if strings.Contains(first, "▀") {
		t.Error("half-blocks drawn in sixel mode")
	}
	imgs := decodeSixels(t, tool, first)
	if len(imgs) != 2 {
		t.Fatalf("%d sixel images, want 2", len(imgs))
	}
	rects := view.Layout(2, cols, rows-6) // the grid: all but the 6 chat rows
	type want struct {
		name   string
		frame  *image.YCbCr
		colour func(x, y int) [3]byte // expected YCbCr at a picture point
	}
	wants := []want{
		{"alice", alice, func(x, _ int) [3]byte {
			if x < alice.Rect.Dx()/2 {
				return blue
			}
			return orange
		}},
		{"bob", bob, func(int, int) [3]byte { return green }},
	}
	for i, w := range wants {
		pic := rects[i]
		pic.Max.Y-- // the caption row
		area := image.Rect(pic.Min.X*cw, pic.Min.Y*ch, pic.Max.X*cw, pic.Max.Y*ch)
		var got *sixelImage
		for j := range imgs {
			if imgs[j].cell.In(pic) {
				got = &imgs[j]
			}
		}
		if got == nil {
			t.Fatalf("%s: no image starts in its picture cells %v (images at %v, %v)", w.name, pic, imgs[0].cell, imgs[1].cell)
		}
		b := got.img.Bounds()
		if b.Dx() != w.frame.Rect.Dx() || b.Dy() != w.frame.Rect.Dy() {
			t.Errorf("%s: image %v, want the picture's size %v", w.name, b.Size(), w.frame.Rect.Size())
		}
		on := image.Rect(got.cell.X*cw, got.cell.Y*ch, got.cell.X*cw+b.Dx(), got.cell.Y*ch+b.Dy())
		if !on.In(area) {
			t.Errorf("%s: image on the screen at %v, outside its picture area %v", w.name, on, area)
		}
		mid, amid := on.Min.Add(on.Size().Div(2)), area.Min.Add(area.Size().Div(2))
		if d := mid.Sub(amid); d.X < -cw || d.X > cw || d.Y < -ch || d.Y > ch {
			t.Errorf("%s: image centred at %v, its area at %v", w.name, mid, amid)
		}
		// Sample the middle of each quarter of the picture.
		for _, p := range []image.Point{{1, 1}, {3, 1}, {1, 3}, {3, 3}} {
			x, y := p.X*b.Dx()/4, p.Y*b.Dy()/4
			yc := w.colour(x, y)
			er, eg, eb := view.RGB(yc[0], yc[1], yc[2])
			r, g, bl, _ := got.img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			c := color.RGBA{byte(r >> 8), byte(g >> 8), byte(bl >> 8), 255}
			if !within(c.R, er, 28) || !within(c.G, eg, 28) || !within(c.B, eb, 28) {
				t.Errorf("%s at (%d,%d): %v, want ≈ (%d,%d,%d)", w.name, x, y, c, er, eg, eb)
			}
		}
	}

	// alice's video stops: her picture's cells are written again.
	mark := len(out.String())
	src.Set([]view.Tile{
		{ID: "1", Name: "alice", Seq: 1},
		{ID: "2", Name: "bob", Frame: bob, Seq: 1},
	})
	pic := rects[0]
	cup := fmt.Sprintf("\x1b[%d;%dH", pic.Min.Y+1, pic.Min.X+1)
	later := waitFor("alice's picture cells rewritten", mark, func(s string) bool { return strings.Contains(s, cup) })
	if n := len(sixelRe.FindAllString(later, -1)); n != 0 {
		t.Errorf("%d images sent again though no picture changed", n)
	}
}

func within(a, b byte, tol int) bool {
	d := int(a) - int(b)
	return d >= -tol && d <= tol
}

// BenchmarkSixelEncode: one 640×480 picture of the capture test pattern's
// kind (colour bars) as a 640×480 sixel image.
//
//	go test ./view/term -run '^$' -bench SixelEncode
func BenchmarkSixelEncode(b *testing.B) {
	img := vtest.Solid(640, 480, 0, 0, 0)
	for y := 0; y < 480; y++ {
		for x := 0; x < 640; x++ {
			img.Y[y*img.YStride+x] = byte(16 + (x*7+y*3)%220)
			ci := img.COffset(x, y)
			img.Cb[ci], img.Cr[ci] = byte(16+x*224/640), byte(16+y*224/480)
		}
	}
	var s sixelState
	var buf bytes.Buffer
	s.place(&buf, nil, nil, 8, 16) // init
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf.Reset()
		s.encode(&buf, img, 640, 480)
	}
	b.ReportMetric(float64(buf.Len()), "bytes/image")
}
