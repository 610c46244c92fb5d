package signalbench

import (
	"bufio"
	"errors"
	"fmt"
	"html"
	"io"
	"math"
)

// Chart is a line chart with a linear x axis and a logarithmic y axis.
type Chart struct {
	Title  string
	XLabel string
	YLabel string
	Series []Series
}

// Series is one line of a chart; points with a y of zero or less are
// left out (they cannot be shown on a log axis).
type Series struct {
	Name string
	X, Y []float64
}

// Chart geometry, in SVG user units.
const (
	chartW, chartH           = 720, 420
	marginL, marginR         = 70, 150
	marginT, marginB         = 40, 50
	plotW, plotH             = chartW - marginL - marginR, chartH - marginT - marginB
	tickFont, labelFont, pad = 11, 13, 6
)

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"}

// LatencyChart plots the relay latency percentiles of r's load steps
// against the offered load.
func LatencyChart(r *Report) Chart {
	c := Chart{Title: fmt.Sprintf("Signalling relay latency, %d peers in rooms of %d (%s backend)",
		r.Setup.Peers, r.Setup.RoomSize, r.Setup.Backend),
		XLabel: "offered load (directed messages/s)", YLabel: "latency (ms, log scale)"}
	p50 := Series{Name: "p50"}
	p99 := Series{Name: "p99"}
	p999 := Series{Name: "p99.9"}
	for _, l := range r.Load {
		for _, s := range []*Series{&p50, &p99, &p999} {
			s.X = append(s.X, l.OfferedRate)
		}
		p50.Y = append(p50.Y, l.Latency.P50)
		p99.Y = append(p99.Y, l.Latency.P99)
		p999.Y = append(p999.Y, l.Latency.P999)
	}
	c.Series = []Series{p50, p99, p999}
	return c
}

// WriteSVG draws c as a standalone SVG document.
func WriteSVG(w io.Writer, c Chart) error {
	xmin, xmax, ymin, ymax, ok := c.bounds()
	if !ok {
		return errors.New("plot: no point to draw")
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif">`+"\n",
		chartW, chartH, chartW, chartH)
	fmt.Fprintf(bw, `<rect width="%d" height="%d" fill="white"/>`+"\n", chartW, chartH)
	fmt.Fprintf(bw, `<text x="%d" y="%d" font-size="%d" text-anchor="middle">%s</text>`+"\n",
		chartW/2, marginT/2+4, labelFont, html.EscapeString(c.Title))
	sx := func(x float64) float64 { return marginL + (x-xmin)/(xmax-xmin)*plotW }
	ly0, ly1 := math.Log10(ymin), math.Log10(ymax)
	sy := func(y float64) float64 { return marginT + plotH - (math.Log10(y)-ly0)/(ly1-ly0)*plotH }
	writeAxes(bw, c, xmin, xmax, ly0, ly1, sx, sy)
	for i, s := range c.Series {
		writeSeries(bw, s, palette[i%len(palette)], i, sx, sy)
	}
	fmt.Fprintln(bw, `</svg>`)
	return bw.Flush()
}

// bounds returns the ranges of the drawable points, padded so that lines
// do not run along the frame.
func (c Chart) bounds() (xmin, xmax, ymin, ymax float64, ok bool) {
	xmin, ymin = math.Inf(1), math.Inf(1)
	xmax, ymax = math.Inf(-1), math.Inf(-1)
	for _, s := range c.Series {
		for i := range min(len(s.X), len(s.Y)) {
			if s.Y[i] <= 0 || math.IsNaN(s.X[i]) || math.IsInf(s.Y[i], 0) {
				continue
			}
			xmin, xmax = min(xmin, s.X[i]), max(xmax, s.X[i])
			ymin, ymax = min(ymin, s.Y[i]), max(ymax, s.Y[i])
			ok = true
		}
	}
	if !ok {
		return 0, 0, 0, 0, false
	}
	if xmax == xmin {
		xmin, xmax = xmin*0.9-1, xmax*1.1+1
	}
	ymin = math.Pow(10, math.Floor(math.Log10(ymin)))
	ymax = math.Pow(10, math.Ceil(math.Log10(ymax)))
	if ymax <= ymin {
		ymax = ymin * 10
	}
	return xmin, xmax, ymin, ymax, true
}

// writeAxes draws the frame, grid, ticks and axis labels.
func writeAxes(w io.Writer, c Chart, xmin, xmax, ly0, ly1 float64, sx, sy func(float64) float64) {
	fmt.Fprintf(w, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>`+"\n", marginL, marginT, plotW, plotH)
	for d := ly0; d <= ly1+1e-9; d++ {
		y := sy(math.Pow(10, d))
		fmt.Fprintf(w, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", marginL, y, marginL+plotW, y)
		fmt.Fprintf(w, `<text x="%d" y="%.1f" font-size="%d" text-anchor="end">%s</text>`+"\n",
			marginL-pad, y+4, tickFont, trimFloat(math.Pow(10, d)))
	}
	const xticks = 6
	for i := range xticks + 1 {
		v := xmin + (xmax-xmin)*float64(i)/xticks
		x := sx(v)
		fmt.Fprintf(w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", x, marginT, x, marginT+plotH)
		fmt.Fprintf(w, `<text x="%.1f" y="%d" font-size="%d" text-anchor="middle">%s</text>`+"\n",
			x, marginT+plotH+16, tickFont, trimFloat(math.Round(v)))
	}
	fmt.Fprintf(w, `<text x="%d" y="%d" font-size="%d" text-anchor="middle">%s</text>`+"\n",
		marginL+plotW/2, chartH-12, labelFont, html.EscapeString(c.XLabel))
	fmt.Fprintf(w, `<text x="16" y="%d" font-size="%d" text-anchor="middle" transform="rotate(-90 16 %d)">%s</text>`+"\n",
		marginT+plotH/2, labelFont, marginT+plotH/2, html.EscapeString(c.YLabel))
}

// writeSeries draws one line with its points and its legend entry.
func writeSeries(w io.Writer, s Series, color string, i int, sx, sy func(float64) float64) {
	fmt.Fprintf(w, `<polyline fill="none" stroke="%s" stroke-width="2" points="`, color)
	for j := range min(len(s.X), len(s.Y)) {
		if s.Y[j] > 0 {
			fmt.Fprintf(w, "%.1f,%.1f ", sx(s.X[j]), sy(s.Y[j]))
		}
	}
	fmt.Fprintln(w, `"/>`)
	for j := range min(len(s.X), len(s.Y)) {
		if s.Y[j] > 0 {
			fmt.Fprintf(w, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", sx(s.X[j]), sy(s.Y[j]), color)
		}
	}
	ly := marginT + 10 + i*20
	fmt.Fprintf(w, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>`+"\n",
		marginL+plotW+12, ly, marginL+plotW+36, ly, color)
	fmt.Fprintf(w, `<text x="%d" y="%d" font-size="%d">%s</text>`+"\n",
		marginL+plotW+42, ly+4, tickFont, html.EscapeString(s.Name))
}

// trimFloat prints v without trailing zeros.
func trimFloat(v float64) string {
	return fmt.Sprintf("%g", v)
}
