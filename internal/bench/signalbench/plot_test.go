package signalbench

import (
	"bytes"
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
	if err := WriteSVG(&buf, rep); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Count(out, "<polyline") != 3 || strings.Count(out, "<circle") != 9 {
		t.Errorf("want 3 lines with 3 points each:\n%s", out)
	}
	if !strings.Contains(out, "memory &lt;test&gt; backend") {
		t.Error("backend name missing or not escaped in the title")
	}
	if err := WriteSVG(&buf, &Report{}); err == nil {
		t.Error("a report without load steps was drawn")
	}
}
