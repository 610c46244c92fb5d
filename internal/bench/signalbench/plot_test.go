package signalbench

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestWriteSVG(t *testing.T) {
	rep := &Report{Setup: Setup{Peers: 100, RoomSize: 5, Backend: "memory <test>"}}
	for i, r := range []float64{10000, 30000, 60000} {
		rep.Load = append(rep.Load, LoadReport{OfferedRate: r,
			Latency: Latency{P50: 0.2 * float64(i+1), P99: 2 * float64(i+1), P999: 20 * float64(i+1)}})
	}
	var buf bytes.Buffer
	if err := WriteSVG(&buf, LatencyChart(rep)); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	dec := xml.NewDecoder(&buf)
	root := ""
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if root == "" {
				root = se.Name.Space + " " + se.Name.Local
			}
			counts[se.Name.Local]++
		}
	}
	if root != "http://www.w3.org/2000/svg svg" {
		t.Errorf("root element %q", root)
	}
	if counts["polyline"] != 3 || counts["circle"] != 9 {
		t.Errorf("want 3 lines with 3 points each, got %v", counts)
	}
}

func TestWriteSVGEscapesAndRejectsEmpty(t *testing.T) {
	var buf bytes.Buffer
	c := Chart{Title: `a <b> & "c"`, Series: []Series{{Name: "x", X: []float64{1, 2}, Y: []float64{1, 10}}}}
	if err := WriteSVG(&buf, c); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "<b>") || !strings.Contains(buf.String(), "&lt;b&gt;") {
		t.Error("title not escaped")
	}
	if err := WriteSVG(io.Discard, Chart{Series: []Series{{X: []float64{1}, Y: []float64{0}}}}); err == nil {
		t.Error("a chart without drawable points was written")
	}
}
