package window

import (
	"image"
	"image/color"
	"image/draw"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/videochat/videochat/view"
)

// Geometry of the window's tiles, in window pixels. Exported so tests can
// check a screenshot against it.
const (
	// CaptionHeight is the strip under each picture that holds the name.
	CaptionHeight = 30
	// Gap is the border around each tile.
	Gap = 2
	// captionScale: the embedded font (basicfont 7×13) is drawn ×2.
	captionScale = 2
)

// TileRects are the areas of one tile.
type TileRects struct {
	// Picture is where the video is fitted (dark around it, and all dark
	// when the peer's video stopped).
	Picture image.Rectangle
	// Caption is the grey strip with the name, centred.
	Caption image.Rectangle
}

// Rects lays out n tiles in a w×h window (see view.Layout).
func Rects(n, w, h int) []TileRects {
	out := make([]TileRects, 0, n)
	for _, r := range view.Layout(n, w, h) {
		r = r.Inset(Gap)
		pic := r
		pic.Max.Y -= CaptionHeight
		out = append(out, TileRects{Picture: pic, Caption: image.Rect(r.Min.X, pic.Max.Y, r.Max.X, r.Max.Y)})
	}
	return out
}

// Caption is a name as the window draws it: white on transparent, with the
// embedded bitmap font (golang.org/x/image/font/basicfont 7×13) scaled ×2
// without smoothing. Nil for an empty name.
func Caption(name string) *image.RGBA {
	face := basicfont.Face7x13
	d := &font.Drawer{Face: face}
	w := d.MeasureString(name).Ceil()
	if w == 0 {
		return nil
	}
	small := image.NewRGBA(image.Rect(0, 0, w, face.Height))
	draw.Draw(small, small.Bounds(), image.Transparent, image.Point{}, draw.Src)
	d.Dst = small
	d.Src = image.NewUniform(color.White)
	d.Dot = fixed.P(0, face.Ascent)
	d.DrawString(name)
	big := image.NewRGBA(image.Rect(0, 0, w*captionScale, face.Height*captionScale))
	for y := 0; y < big.Rect.Dy(); y++ {
		for x := 0; x < big.Rect.Dx(); x++ {
			big.SetRGBA(x, y, small.RGBAAt(x/captionScale, y/captionScale))
		}
	}
	return big
}

// Uncovered returns rectangles that together cover exactly the part of a
// w×h window outside the tiles (picture and caption of each): the gaps
// and the empty cells of the grid. The window fills them instead of
// clearing all of it before drawing the tiles over it, which costs the
// software renderer a write of the whole window per present.
func Uncovered(w, h int, tiles []TileRects) []image.Rectangle {
	out := []image.Rectangle{image.Rect(0, 0, w, h)}
	for _, t := range tiles {
		cut := t.Picture.Union(t.Caption)
		var next []image.Rectangle
		for _, r := range out {
			in := r.Intersect(cut)
			if in.Empty() {
				next = append(next, r)
				continue
			}
			for _, part := range [4]image.Rectangle{
				{Min: r.Min, Max: image.Pt(r.Max.X, in.Min.Y)},                        // above
				{Min: image.Pt(r.Min.X, in.Max.Y), Max: r.Max},                        // below
				{Min: image.Pt(r.Min.X, in.Min.Y), Max: image.Pt(in.Min.X, in.Max.Y)}, // left
				{Min: image.Pt(in.Max.X, in.Min.Y), Max: image.Pt(r.Max.X, in.Max.Y)}, // right
			} {
				if !part.Empty() {
					next = append(next, part)
				}
			}
		}
		out = next
	}
	return out
}
