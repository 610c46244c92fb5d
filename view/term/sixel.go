package term

// Sixel graphics (DEC; xterm -ti vt340, foot, mlterm, WezTerm, contour,
// tmux ≥ 3.4 built with sixel): each tile's picture is sent as one sixel
// image, fitted in the tile's picture cells in the terminal's pixels
// (Config.CellSize), never larger than the decoded picture, and centred
// to the cell.
//
// Invariants:
//   - Colours come from one fixed palette, the 6×6×6 cube (216 registers,
//     each channel one of 0, 51, …, 255; a pixel takes the nearest), defined
//     at the start of every image, so no state is kept in the terminal's
//     registers between images.
//   - An image is sent only when its tile's frame or place changed; the
//     cells under it are dark spaces that the cell writer leaves alone.
//   - When a picture goes (the peer's video stopped, the layout changed),
//     the cells of its old place are marked unwritten, so the cell writer
//     paints over it: no frozen frame stays on the screen.
//   - The image never reaches below its cell rectangle, so it cannot
//     scroll the screen or draw over the chat lines.

import (
	"bytes"
	"image"
	"strconv"

	"github.com/videochat/videochat/view"
)

// sixelLevels is the number of levels per channel of the palette.
const sixelLevels = 6

// sixelState is what was last placed, and the encoder's scratch space.
type sixelState struct {
	placed map[string]sixelPlaced // by tile id
	quant  [256]byte              // channel value → nearest level
	bits   [][]byte               // per colour register: one band's sixels
	used   []int                  // registers used in the band, in order
	first  []int                  // per register: first column in the band
	last   []int                  // per register: last column in the band
	idx    []byte                 // one band of register indices (6 rows)
	num    []byte
}

type sixelPlaced struct {
	seq uint64
	at  image.Rectangle // cells
	px  image.Point     // image size in pixels
}

// cellPic is one tile's picture to draw with a graphics protocol.
type cellPic = kittyPic

func (s *sixelState) reset() { s.placed = nil }

// stale returns the cell rectangles of pictures placed before that pics no
// longer cover the same way; their cells must be written again.
func (s *sixelState) stale(pics []cellPic, sizes []image.Point) []image.Rectangle {
	var out []image.Rectangle
	for id, p := range s.placed {
		keep := false
		for i, q := range pics {
			if q.id == id && q.at == p.at && sizes[i] == p.px {
				keep = true
			}
		}
		if !keep {
			out = append(out, p.at)
			delete(s.placed, id)
		}
	}
	return out
}

// sixelSize is the size in pixels a picture of w×h gets in a cell
// rectangle of at with cells of cw×ch pixels: fitted, not enlarged.
func sixelSize(at image.Rectangle, cw, ch, w, h int) image.Point {
	aw, ah := at.Dx()*cw, at.Dy()*ch
	aw, ah = min(aw, w), min(ah, h)
	f := view.Fit(image.Rect(0, 0, aw, ah), w, h)
	return f.Size()
}

// sixelOrigin is the cell where an image of sz pixels starts, centred to
// the cell in the cell rectangle at of cw×ch-pixel cells.
func sixelOrigin(at image.Rectangle, sz image.Point, cw, ch int) image.Point {
	return image.Pt(at.Min.X+(at.Dx()*cw-sz.X)/2/cw, at.Min.Y+(at.Dy()*ch-sz.Y)/2/ch)
}

// place writes the pictures whose frame or place changed into b; cells
// are cw×ch pixels.
func (s *sixelState) place(b *bytes.Buffer, pics []cellPic, sizes []image.Point, cw, ch int) {
	if s.placed == nil {
		s.placed = map[string]sixelPlaced{}
		for i := range s.quant {
			s.quant[i] = byte((i*(sixelLevels-1) + 127) / 255)
		}
	}
	for i, p := range pics {
		sz := sizes[i]
		if sz.X <= 0 || sz.Y <= 0 {
			continue
		}
		if old, ok := s.placed[p.id]; ok && old.seq == p.seq && old.at == p.at && old.px == sz {
			continue
		}
		at := sixelOrigin(p.at, sz, cw, ch)
		b.WriteString("\x1b7")
		s.num = append(s.num[:0], "\x1b["...)
		s.num = strconv.AppendInt(s.num, int64(at.Y+1), 10)
		s.num = append(s.num, ';')
		s.num = strconv.AppendInt(s.num, int64(at.X+1), 10)
		s.num = append(s.num, 'H')
		b.Write(s.num)
		s.encode(b, p.img, sz.X, sz.Y)
		b.WriteString("\x1b8")
		s.placed[p.id] = sixelPlaced{seq: p.seq, at: p.at, px: sz}
	}
}

// encode writes img scaled to w×h (nearest pixel) as one sixel image.
func (s *sixelState) encode(b *bytes.Buffer, img *image.YCbCr, w, h int) {
	const ncol = sixelLevels * sixelLevels * sixelLevels
	if len(s.bits) != ncol {
		s.bits = make([][]byte, ncol)
		s.first = make([]int, ncol)
		s.last = make([]int, ncol)
	}
	for c := range s.bits {
		if len(s.bits[c]) < w {
			s.bits[c] = make([]byte, w)
		}
		s.first[c] = -1
	}
	if len(s.idx) < 6*w {
		s.idx = make([]byte, 6*w)
	}
	// DCS P1=0 (aspect 2:1, overridden by the raster attributes), P2=1
	// (pixels not drawn keep their colour), then 1:1 pixels, w×h.
	n := s.num[:0]
	n = append(n, "\x1bP0;1q\"1;1;"...)
	n = strconv.AppendInt(n, int64(w), 10)
	n = append(n, ';')
	n = strconv.AppendInt(n, int64(h), 10)
	b.Write(n)
	for c := 0; c < ncol; c++ {
		n = append(n[:0], '#')
		n = strconv.AppendInt(n, int64(c), 10)
		n = append(n, ";2;"...)
		for _, l := range [3]int{c / 36, c / 6 % 6, c % 6} {
			n = strconv.AppendInt(n, int64(l*100/(sixelLevels-1)), 10)
			n = append(n, ';')
		}
		b.Write(n[:len(n)-1])
	}
	fw, fh := img.Rect.Dx(), img.Rect.Dy()
	for y0 := 0; y0 < h; y0 += 6 {
		rows := min(6, h-y0)
		for r := 0; r < rows; r++ {
			sy := img.Rect.Min.Y + (y0+r)*fh/h
			line := s.idx[r*w : (r+1)*w]
			for x := range line {
				sx := img.Rect.Min.X + x*fw/w
				yi, ci := img.YOffset(sx, sy), img.COffset(sx, sy)
				cr, cg, cb := view.RGB(img.Y[yi], img.Cb[ci], img.Cr[ci])
				line[x] = s.quant[cr]*36 + s.quant[cg]*6 + s.quant[cb]
			}
		}
		s.used = s.used[:0]
		for r := 0; r < rows; r++ {
			line := s.idx[r*w : (r+1)*w]
			bit := byte(1) << r
			for x, c := range line {
				if s.first[c] < 0 {
					s.first[c] = x
					s.used = append(s.used, int(c))
				}
				s.bits[c][x] |= bit
				s.last[c] = max(s.last[c], x)
			}
		}
		for i, c := range s.used {
			if i > 0 {
				b.WriteByte('$') // back to the band's first column
			}
			n = append(n[:0], '#')
			n = strconv.AppendInt(n, int64(c), 10)
			f, l := s.first[c], s.last[c]
			n = sixelRun(n, '?', f)
			bits := s.bits[c][f : l+1]
			for j := 0; j < len(bits); {
				k := j + 1
				for k < len(bits) && bits[k] == bits[j] {
					k++
				}
				n = sixelRun(n, 63+bits[j], k-j)
				j = k
			}
			b.Write(n)
			clear(bits)
			s.first[c], s.last[c] = -1, 0
		}
		b.WriteByte('-') // next band
	}
	b.WriteString("\x1b\\")
	s.num = n
}

// sixelRun appends n times the sixel ch, run-length encoded.
func sixelRun(dst []byte, ch byte, n int) []byte {
	if n > 3 {
		dst = append(dst, '!')
		dst = strconv.AppendInt(dst, int64(n), 10)
		return append(dst, ch)
	}
	for ; n > 0; n-- {
		dst = append(dst, ch)
	}
	return dst
}
