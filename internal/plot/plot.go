// Package plot draws the small SVG charts of the benchmarks: grouped bars
// over categories, and lines over shared x positions with a linear or a
// logarithmic y axis. Output is a standalone SVG document, no scripts.
//
// Invariants: every text from the caller is escaped; a value that cannot
// be drawn (NaN, ±Inf, or ≤ 0 on a log axis) is left out, never drawn at a
// wrong place; a line chart without one drawable value is an error; the
// first write error is returned.
package plot

import (
	"bufio"
	"errors"
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
	"strings"
)

// Chart is the data of one chart.
type Chart struct {
	Title  string
	YLabel string
	// Categories label the bar groups (Bar).
	Categories []string
	// X are the x positions of the points (Line), XLabel their unit.
	X      []float64
	XLabel string
	// LogY draws Line's y axis in decades.
	LogY   bool
	Series []Series
}

// Series is one named set of values, one per category (Bar) or x position
// (Line).
type Series struct {
	Name   string
	Values []float64
}

// Chart geometry, in SVG user units.
const (
	svgW, svgH             = 640, 360
	padL, padR, padT, padB = 70, 20, 40, 70
	plotW, plotH           = svgW - padL - padR, svgH - padT - padB
)

var palette = [...]string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"}

func color(i int) string { return palette[i%len(palette)] }

// yAxis maps values to SVG y and lists its grid values.
type yAxis struct {
	lo, hi float64 // linear: 0 and the top; log: log10 of the bottom and top
	log    bool
}

func (a yAxis) drawable(v float64) bool {
	return !math.IsNaN(v) && !math.IsInf(v, 0) && (!a.log || v > 0)
}

func (a yAxis) pos(v float64) float64 {
	if a.log {
		v = math.Log10(v)
	}
	return padT + plotH - plotH*(v-a.lo)/(a.hi-a.lo)
}

// grid returns the values of the horizontal grid lines.
func (a yAxis) grid() []float64 {
	var out []float64
	if a.log {
		for d := a.lo; d <= a.hi+1e-9; d++ {
			out = append(out, math.Pow(10, d))
		}
		return out
	}
	for i := 0; i <= 5; i++ {
		out = append(out, a.hi*float64(i)/5)
	}
	return out
}

// axis chooses the y axis for c's drawable values; ok is false when there
// is none.
func (c Chart) axis() (a yAxis, ok bool) {
	a.log = c.LogY
	lo, hi := math.Inf(1), 0.0
	for _, s := range c.Series {
		for _, v := range s.Values {
			if a.drawable(v) {
				lo, hi, ok = min(lo, v), max(hi, v), true
			}
		}
	}
	if !a.log {
		a.hi = niceCeil(hi)
		return a, ok
	}
	if !ok {
		return yAxis{log: true, lo: 0, hi: 1}, false
	}
	a.lo, a.hi = math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if a.hi <= a.lo {
		a.hi = a.lo + 1
	}
	return a, true
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	exp := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*exp >= v*(1-1e-9) {
			return m * exp
		}
	}
	return 10 * exp
}

// svgWriter accumulates SVG text and remembers the first write error.
type svgWriter struct {
	w   *bufio.Writer
	err error
}

func (s *svgWriter) printf(format string, args ...any) {
	if s.err == nil {
		_, s.err = fmt.Fprintf(s.w, format, args...)
	}
}

func (s *svgWriter) finish() error {
	s.printf("</svg>\n")
	if s.err != nil {
		return s.err
	}
	return s.w.Flush()
}

func esc(s string) string { return html.EscapeString(s) }

func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func short(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }

// frame draws the title, the y axis with its grid, and the legend.
func (s *svgWriter) frame(c Chart, a yAxis) {
	s.printf(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", svgW, svgH, svgW, svgH)
	s.printf(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	s.printf(`<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", padL, esc(c.Title))
	for _, v := range a.grid() {
		y := a.pos(v)
		s.printf(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", padL, y, padL+plotW, y)
		s.printf(`<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", padL-6, y+4, esc(short(v)))
	}
	s.printf(`<text transform="translate(16 %d) rotate(-90)" text-anchor="middle">%s</text>`+"\n", padT+plotH/2, esc(c.YLabel))
	s.printf(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", padL, padT+plotH, padL+plotW, padT+plotH)
	for i, ser := range c.Series {
		x := padL + i*150
		s.printf(`<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n",
			x, svgH-18, color(i), x+16, svgH-8, esc(ser.Name))
	}
}

// Bar writes c as a grouped bar chart: one group per category, one bar per
// series, on a linear axis from 0.
func Bar(w io.Writer, c Chart) error {
	c.LogY = false
	s := &svgWriter{w: bufio.NewWriter(w)}
	a, _ := c.axis()
	s.frame(c, a)
	groupW := float64(plotW) / math.Max(1, float64(len(c.Categories)))
	barW := groupW * 0.8 / math.Max(1, float64(len(c.Series)))
	for g, cat := range c.Categories {
		gx := padL + groupW*float64(g) + groupW*0.1
		for i, ser := range c.Series {
			if g >= len(ser.Values) || !a.drawable(ser.Values[g]) {
				continue
			}
			v := ser.Values[g]
			x, y := gx+barW*float64(i), a.pos(v)
			s.printf(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %s</title></rect>`+"\n",
				x, y, barW-2, padT+plotH-y, color(i), esc(ser.Name), num(v))
			s.printf(`<text x="%.1f" y="%.1f" text-anchor="middle" font-size="10">%s</text>`+"\n", x+(barW-2)/2, y-3, esc(strconv.FormatFloat(v, 'g', 3, 64)))
		}
		s.printf(`<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", padL+groupW*(float64(g)+0.5), padT+plotH+16, esc(cat))
	}
	return s.finish()
}

// Line writes c as a line chart over c.X (from 0 to its maximum), with a
// linear or (LogY) logarithmic y axis.
func Line(w io.Writer, c Chart) error {
	a, ok := c.axis()
	if !ok {
		return errors.New("plot: no point to draw")
	}
	s := &svgWriter{w: bufio.NewWriter(w)}
	s.frame(c, a)
	xmax := 0.0
	for _, x := range c.X {
		xmax = math.Max(xmax, x)
	}
	if xmax == 0 {
		xmax = 1
	}
	xPos := func(x float64) float64 { return padL + plotW*x/xmax }
	for _, x := range c.X {
		s.printf(`<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", xPos(x), padT+plotH+16, esc(num(x)))
	}
	s.printf(`<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", padL+plotW/2, padT+plotH+34, esc(c.XLabel))
	for i, ser := range c.Series {
		var points strings.Builder
		for j, v := range ser.Values {
			if j >= len(c.X) || !a.drawable(v) {
				continue
			}
			x, y := xPos(c.X[j]), a.pos(v)
			fmt.Fprintf(&points, "%.1f,%.1f ", x, y)
			s.printf(`<circle cx="%.1f" cy="%.1f" r="4" fill="%s"><title>%s: %s</title></circle>`+"\n", x, y, color(i), esc(ser.Name), num(v))
			s.printf(`<text x="%.1f" y="%.1f" text-anchor="middle" font-size="10">%s</text>`+"\n", x, y-8, esc(strconv.FormatFloat(v, 'g', 3, 64)))
		}
		s.printf(`<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", strings.TrimSpace(points.String()), color(i))
	}
	return s.finish()
}
