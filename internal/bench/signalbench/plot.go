package signalbench

import (
	"fmt"
	"io"

	"github.com/videochat/videochat/internal/plot"
)

// LatencyChart plots the relay latency percentiles of r's load steps
// against the offered load, on a log axis.
func LatencyChart(r *Report) plot.Chart {
	c := plot.Chart{Title: fmt.Sprintf("Signalling relay latency, %d peers in rooms of %d (%s backend)",
		r.Setup.Peers, r.Setup.RoomSize, r.Setup.Backend),
		XLabel: "offered load (directed messages/s)", YLabel: "latency (ms, log scale)", LogY: true}
	p50 := plot.Series{Name: "p50"}
	p99 := plot.Series{Name: "p99"}
	p999 := plot.Series{Name: "p99.9"}
	for _, l := range r.Load {
		c.X = append(c.X, l.OfferedRate)
		p50.Values = append(p50.Values, l.Latency.P50)
		p99.Values = append(p99.Values, l.Latency.P99)
		p999.Values = append(p999.Values, l.Latency.P999)
	}
	c.Series = []plot.Series{p50, p99, p999}
	return c
}

// WriteSVG draws r's latency chart as a standalone SVG document.
func WriteSVG(w io.Writer, r *Report) error { return plot.Line(w, LatencyChart(r)) }
