package netbench

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestRunRejectsBadConfig: unknown profiles and senders are named errors,
// found before anything starts.
func TestRunRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Chromium: "/bin/true", Profiles: []string{"jitter"}},
		{Chromium: "/bin/true", Senders: []string{"firefox"}},
		{},
	} {
		if _, err := Run(context.Background(), cfg); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
}

// TestMarkdownRatios: the report prints one row per measurement and the
// native/Chromium ratios of each profile.
func TestMarkdownRatios(t *testing.T) {
	r := &Report{Rows: []Row{
		{Profile: "loss", Sender: "native", FPS: 20, Freezes: 2, FreezeSeconds: 0.5, SenderCPU: 0.05},
		{Profile: "loss", Sender: "chromium", FPS: 16, Freezes: 4, FreezeSeconds: 2, SenderCPU: 0.2,
			Repair: Repair{Packets: 3000, Lost: 20, NACKs: 140, FEC: 900, FECDiscarded: 850, RTXPackets: 130, RTXBytes: 150000}},
		{Profile: "bottleneck", Sender: "native", FPS: 25, Adapt: 2 * time.Second, Recover: -1},
	}}
	var b bytes.Buffer
	r.WriteMarkdown(&b)
	out := b.String()
	for _, want := range []string{"| loss | native | 20.0 | 2 | 0.50 s", "not reached", "- loss: received fps native/Chromium 1.25", "freezes 2 vs 4", "| loss | chromium | 3000 | 20 | 140 | 900 (850) | 130 | 150000 |"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "- bottleneck:") {
		t.Errorf("ratios for a profile without a Chromium row:\n%s", out)
	}
}
