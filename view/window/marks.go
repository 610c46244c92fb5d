package window

// The marks the window draws on a tile besides its picture and name, as
// filled rectangles, so they need no font and tests can find them in a
// screenshot: a green border round the tile of a peer that talks, a
// crossed-out microphone left of the name of a peer whose microphone is
// off, and three bars at the caption's right end lit by the link quality.
// None of them is white, so the caption's text stays the only white in
// the strip.

import (
	"image"
	"image/color"

	"github.com/videochat/videochat/view"
)

// Mark is one filled rectangle.
type Mark struct {
	Rect  image.Rectangle
	Color color.RGBA
}

// Decor is how one tile is decorated.
type Decor struct {
	// Name is where the caption's text goes (cut to this width).
	Name image.Rectangle
	// Marks are drawn after the picture and the caption text, in order.
	Marks []Mark
}

// Sizes and colours of the marks, in window pixels.
const (
	// SpeakingBorder is the width of the border round a talking peer's
	// tile: the gap around the tile and the picture's outer pixels.
	SpeakingBorder = 4
	micW, micH     = 16, 20
	barW, barGap   = 5, 2
	barsW          = 3*barW + 2*barGap
	markGap        = 8 // between the caption's parts, and at its right end
)

var (
	// ColSpeaking is the border of a talking peer's tile.
	ColSpeaking = color.RGBA{40, 200, 90, 255}
	// ColMicSlash is the stroke across the muted microphone.
	ColMicSlash = color.RGBA{230, 40, 40, 255}
	colMic      = color.RGBA{170, 170, 170, 255}
	colUnlit    = color.RGBA{100, 100, 100, 255}
	// QualityColours are the lit bars for poor (1), fair (2), good (3).
	QualityColours = [4]color.RGBA{1: {230, 60, 60, 255}, 2: {230, 190, 50, 255}, 3: {60, 210, 90, 255}}
)

// Decorate lays out the caption of a tile in r whose name's text is
// nameW×nameH pixels, and the marks of its state (view.LayoutCaption).
func Decorate(r TileRects, nameW, nameH int, st view.State) Decor {
	c := r.Caption
	mute, quality := 0, 0
	if st.MicOff {
		mute = micW
	}
	bars := view.QualityBars(st.Quality)
	if bars > 0 {
		quality = barsW
	}
	p := view.LayoutCaption(c.Dx(), nameW, mute, quality, markGap)
	midY := (c.Min.Y + c.Max.Y) / 2
	d := Decor{Name: image.Rect(c.Min.X+p.Name.X, midY-nameH/2, c.Min.X+p.Name.X+p.Name.W, midY-nameH/2+nameH)}
	if p.Mute.W > 0 {
		d.Marks = append(d.Marks, micMarks(image.Pt(c.Min.X+p.Mute.X, midY-micH/2))...)
	}
	if p.Quality.W > 0 {
		for i := range 3 {
			h := 6 + 5*i
			x := c.Min.X + p.Quality.X + i*(barW+barGap)
			col := colUnlit
			if i < bars {
				col = QualityColours[bars]
			}
			d.Marks = append(d.Marks, Mark{image.Rect(x, midY+8-h, x+barW, midY+8), col})
		}
	}
	if st.Speaking {
		o := r.Picture.Union(r.Caption).Inset(-Gap)
		b := SpeakingBorder
		d.Marks = append(d.Marks,
			Mark{image.Rect(o.Min.X, o.Min.Y, o.Max.X, o.Min.Y+b), ColSpeaking},
			Mark{image.Rect(o.Min.X, o.Max.Y-b, o.Max.X, o.Max.Y), ColSpeaking},
			Mark{image.Rect(o.Min.X, o.Min.Y, o.Min.X+b, o.Max.Y), ColSpeaking},
			Mark{image.Rect(o.Max.X-b, o.Min.Y, o.Max.X, o.Max.Y), ColSpeaking})
	}
	return d
}

// micMarks is a micW×micH microphone crossed out, with its top left at at:
// a capsule, its cradle, stem and foot, and a red stroke from the top left
// to the bottom right.
func micMarks(at image.Point) []Mark {
	rect := func(x0, y0, x1, y1 int, c color.RGBA) Mark {
		return Mark{image.Rect(x0, y0, x1, y1).Add(at), c}
	}
	ms := []Mark{
		rect(5, 0, 11, 11, colMic),  // capsule
		rect(2, 7, 4, 15, colMic),   // cradle, left
		rect(12, 7, 14, 15, colMic), // cradle, right
		rect(2, 13, 14, 15, colMic), // cradle, bottom
		rect(7, 15, 9, 18, colMic),  // stem
		rect(4, 18, 12, 20, colMic), // foot
	}
	for i := range 9 { // the stroke: 3×3 squares down the diagonal
		x, y := i*(micW-3)/8, i*(micH-3)/8
		ms = append(ms, rect(x, y, x+3, y+3, ColMicSlash))
	}
	return ms
}
