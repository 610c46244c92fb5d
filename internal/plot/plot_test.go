package plot

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
)

// svgCounts parses an SVG document and counts its elements by name.
func svgCounts(t *testing.T, doc []byte) map[string]int {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	counts := map[string]int{}
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return counts
		}
		if err != nil {
			t.Fatalf("invalid XML: %v\n%s", err, doc)
		}
		if se, ok := tok.(xml.StartElement); ok {
			counts[se.Name.Local]++
		}
	}
}

func TestBar(t *testing.T) {
	var buf bytes.Buffer
	c := Chart{Title: "CPU <per> side & more", YLabel: "cores", Categories: []string{"a", "b", "c"},
		Series: []Series{{Name: "x", Values: []float64{0.1, 0.4, 0.2}}, {Name: "y", Values: []float64{0.3, 0.5, math.NaN()}}}}
	if err := Bar(&buf, c); err != nil {
		t.Fatal(err)
	}
	n := svgCounts(t, buf.Bytes())
	// background + 2 legend swatches + 5 bars (one value is NaN).
	if n["svg"] != 1 || n["rect"] != 1+2+5 {
		t.Fatalf("elements = %v, want 1 svg and 8 rects", n)
	}
	if !strings.Contains(buf.String(), "CPU &lt;per&gt; side &amp; more") {
		t.Fatal("title not escaped")
	}
	// The axis top is 0.5, the nice ceiling of the largest value: the
	// 0.5 bar is full height (plotH).
	if !strings.Contains(buf.String(), `height="250.0"`) {
		t.Fatalf("no full-height bar for the maximum:\n%s", buf.String())
	}
}

func TestLine(t *testing.T) {
	var buf bytes.Buffer
	c := Chart{Title: "mesh", YLabel: "cores", XLabel: "peers", X: []float64{1, 3, 5},
		Series: []Series{{Name: "sender", Values: []float64{0.1, 0.12, 0.15}}}}
	if err := Line(&buf, c); err != nil {
		t.Fatal(err)
	}
	n := svgCounts(t, buf.Bytes())
	if n["circle"] != 3 || n["polyline"] != 1 {
		t.Fatalf("elements = %v, want 3 circles and 1 polyline", n)
	}
	// x = 5 is the right edge of the plot.
	if !strings.Contains(buf.String(), `cx="620.0"`) {
		t.Fatalf("last point not at the right edge:\n%s", buf.String())
	}
}

func TestNiceCeil(t *testing.T) {
	for in, want := range map[float64]float64{0.37: 0.5, 1: 1, 1.2: 2, 3: 5, 7: 10, 420: 500, 0: 1} {
		if got := niceCeil(in); got != want {
			t.Errorf("niceCeil(%v) = %v, want %v", in, got, want)
		}
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteChartError(t *testing.T) {
	big := Chart{Categories: make([]string, 200), Series: []Series{{Name: "x", Values: make([]float64, 200)}}}
	if err := Bar(failWriter{}, big); err == nil {
		t.Fatal("no error from a failing writer")
	}
}

// TestLineLog draws latency percentiles on a log axis: decades as grid
// lines, points ≤ 0 left out, and no chart without a drawable point.
func TestLineLog(t *testing.T) {
	var buf bytes.Buffer
	c := Chart{Title: `latency <test> & "c"`, YLabel: "ms", XLabel: "msg/s", LogY: true, X: []float64{10000, 30000, 60000},
		Series: []Series{{Name: "p50", Values: []float64{0.2, 0.4, 0}}, {Name: "p99", Values: []float64{2, 4, 6}}, {Name: "p99.9", Values: []float64{20, 40, 60}}}}
	if err := Line(&buf, c); err != nil {
		t.Fatal(err)
	}
	n := svgCounts(t, buf.Bytes())
	if n["polyline"] != 3 || n["circle"] != 8 {
		t.Fatalf("elements = %v, want 3 lines and 8 points (a 0 is left out on a log axis)", n)
	}
	// 0.2 … 60 spans the decades 0.1 to 100: 4 grid lines, the top one
	// (100) at the plot's top edge and 0.1 at its bottom.
	for _, want := range []string{`>0.1</text>`, `>100</text>`, `y1="40.0"`, `y1="290.0"`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("no %s in:\n%s", want, buf.String())
		}
	}
	if strings.Contains(buf.String(), "<test>") || !strings.Contains(buf.String(), "&lt;test&gt;") {
		t.Error("title not escaped")
	}
	if err := Line(io.Discard, Chart{LogY: true, X: []float64{1}, Series: []Series{{Values: []float64{0}}}}); err == nil {
		t.Error("a log chart without drawable points was written")
	}
	if err := Line(io.Discard, Chart{X: []float64{1}, Series: []Series{{Values: []float64{math.NaN()}}}}); err == nil {
		t.Error("a chart without drawable points was written")
	}
}
