package callbench

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
)

// Chart is the data of a small SVG chart: a bar chart draws one group of
// bars per category, a line chart one line per series through the points
// (X[i], Values[i]).
type Chart struct {
	Title  string
	YLabel string
	// Categories label the bar groups (bar chart).
	Categories []string
	// X are the x positions of the points (line chart), XLabel their unit.
	X      []float64
	XLabel string
	Series []Series
}

// Series is one named set of values, one per category or x position.
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

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"}

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

func (c Chart) maxValue() float64 {
	mx := 0.0
	for _, s := range c.Series {
		for _, v := range s.Values {
			if !math.IsNaN(v) {
				mx = math.Max(mx, v)
			}
		}
	}
	return niceCeil(mx)
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

func esc(s string) string { return html.EscapeString(s) }

func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// frame draws the title, the y axis with grid lines up to top, and the
// legend.
func (s *svgWriter) frame(c Chart, top float64) {
	s.printf(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", svgW, svgH, svgW, svgH)
	s.printf(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	s.printf(`<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", padL, esc(c.Title))
	for i := 0; i <= 5; i++ {
		v := top * float64(i) / 5
		y := padT + plotH - plotH*float64(i)/5
		s.printf(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", padL, y, padL+plotW, y)
		s.printf(`<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", padL-6, y+4, esc(strconv.FormatFloat(v, 'g', 4, 64)))
	}
	s.printf(`<text transform="translate(16 %d) rotate(-90)" text-anchor="middle">%s</text>`+"\n", padT+plotH/2, esc(c.YLabel))
	s.printf(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", padL, padT+plotH, padL+plotW, padT+plotH)
	for i, ser := range c.Series {
		x := padL + i*150
		s.printf(`<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n",
			x, svgH-18, palette[i%len(palette)], x+16, svgH-8, esc(ser.Name))
	}
}

func yPos(v, top float64) float64 { return padT + plotH - plotH*v/top }

// WriteBarChart writes c as a grouped bar chart.
func WriteBarChart(w io.Writer, c Chart) error {
	s := &svgWriter{w: bufio.NewWriter(w)}
	top := c.maxValue()
	s.frame(c, top)
	groupW := float64(plotW) / math.Max(1, float64(len(c.Categories)))
	barW := groupW * 0.8 / math.Max(1, float64(len(c.Series)))
	for g, cat := range c.Categories {
		gx := padL + groupW*float64(g) + groupW*0.1
		for i, ser := range c.Series {
			if g >= len(ser.Values) || math.IsNaN(ser.Values[g]) {
				continue
			}
			v := ser.Values[g]
			x, y := gx+barW*float64(i), yPos(v, top)
			s.printf(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %s</title></rect>`+"\n",
				x, y, barW-2, padT+plotH-y, palette[i%len(palette)], esc(ser.Name), num(v))
			s.printf(`<text x="%.1f" y="%.1f" text-anchor="middle" font-size="10">%s</text>`+"\n", x+(barW-2)/2, y-3, esc(strconv.FormatFloat(v, 'g', 3, 64)))
		}
		s.printf(`<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", padL+groupW*(float64(g)+0.5), padT+plotH+16, esc(cat))
	}
	s.printf("</svg>\n")
	if s.err != nil {
		return s.err
	}
	return s.w.Flush()
}

// WriteLineChart writes c as a line chart over c.X (from 0 to its maximum).
func WriteLineChart(w io.Writer, c Chart) error {
	s := &svgWriter{w: bufio.NewWriter(w)}
	top := c.maxValue()
	s.frame(c, top)
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
		color := palette[i%len(palette)]
		points := ""
		for j, v := range ser.Values {
			if j >= len(c.X) || math.IsNaN(v) {
				continue
			}
			x, y := xPos(c.X[j]), yPos(v, top)
			points += fmt.Sprintf("%.1f,%.1f ", x, y)
			s.printf(`<circle cx="%.1f" cy="%.1f" r="4" fill="%s"><title>%s: %s</title></circle>`+"\n", x, y, color, esc(ser.Name), num(v))
			s.printf(`<text x="%.1f" y="%.1f" text-anchor="middle" font-size="10">%s</text>`+"\n", x, y-8, esc(strconv.FormatFloat(v, 'g', 3, 64)))
		}
		s.printf(`<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", points, color)
	}
	s.printf("</svg>\n")
	if s.err != nil {
		return s.err
	}
	return s.w.Flush()
}
