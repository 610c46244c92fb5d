package callbench

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/videochat/videochat/internal/plot"
)

// WriteMarkdown writes the report as Markdown tables.
func (r *CallReport) WriteMarkdown(w io.Writer) {
	fmt.Fprintf(w, "Machine: %s\n\nClip: %s; target bitrate %d kbps\n\n", r.Machine, r.Clip, r.Bitrate/1000)
	for _, s := range r.Skipped {
		fmt.Fprintf(w, "**Skipped:** %s\n\n", s)
	}
	s := r.Setup
	fmt.Fprintf(w, "| call set-up (n=%d) | p50 ms | min ms | max ms |\n|---|---|---|---|\n", s.Native.N)
	row := func(name string, v Summary) {
		if v.N > 0 {
			fmt.Fprintf(w, "| %s | %.0f | %.0f | %.0f |\n", name, v.P50, v.Min, v.Max)
		}
	}
	row("native ↔ native: 2nd `join` process start → first remote video", s.Native)
	row("Chromium ↔ Chromium: 2nd page navigation → first frame decoded", s.ChromiumNav)
	row("Chromium ↔ Chromium: 2nd page navigation → first frame rendered", s.ChromiumRendered)
	row("Chromium ↔ Chromium: 2nd Chromium launch → first frame decoded", s.ChromiumLaunch)
	if s.RatioNav > 0 {
		fmt.Fprintf(w, "\nRatio of p50s, Chromium / native: %.2f× (from navigation), %.2f× (from browser launch)\n", s.RatioNav, s.RatioLaunch)
	}
	fmt.Fprintf(w, "\n| call (%s windows) | side | CPU cores | RSS MiB (max) | PSS MiB | procs | sent kbps | video recv kbps | recv fps | codec recv | load 1m |\n", windowLabel(r.Calls))
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|")
	for _, c := range r.Calls {
		for _, sd := range c.Sides {
			fmt.Fprintf(w, "| %s | %s (%s) | %.3f | %.0f (%.0f) | %.0f | %d | %.0f | %.0f | %.1f | %s | %.2f |\n",
				c.Name, sd.Name, sd.Kind, sd.CPUCores, sd.RSSMiB, sd.RSSMaxMiB, sd.PSSMiB, sd.Processes,
				sd.SentKbps, sd.RecvVideoKbps, sd.RecvFPS, codecName(sd.RecvCodec), c.Load[0])
		}
	}
	for _, c := range r.Calls {
		if !c.Ramped {
			fmt.Fprintf(w, "\n%s: the native sender's link estimate did NOT reach %.0f %% of the bitrate in %.0f s (machine too loaded?): measured anyway.\n", c.Name, rampFraction*100, c.RampSeconds)
		}
	}
	writeGoals(w, r.Goals)
}

func windowLabel(calls []CallResult) string {
	if len(calls) == 0 {
		return "no"
	}
	return fmt.Sprintf("%.0f s", calls[0].Seconds)
}

func codecName(mime string) string {
	if mime == "" {
		return "–"
	}
	return strings.TrimPrefix(mime, "video/")
}

func writeGoals(w io.Writer, goals []GoalResult) {
	if len(goals) == 0 {
		return
	}
	fmt.Fprintln(w, "\n| goal | measured | target | met | detail |\n|---|---|---|---|---|")
	for _, g := range goals {
		met := "no"
		if g.Met {
			met = "yes"
		}
		fmt.Fprintf(w, "| %s | %g | %s | %s | %s |\n", g.Goal, g.Value, g.Target, met, g.Detail)
	}
}

// WriteMarkdown writes the mesh report as a Markdown table.
func (r *MeshReport) WriteMarkdown(w io.Writer) {
	fmt.Fprintf(w, "Machine: %s\n\nSender video: %s\n\n", r.Machine, r.Video)
	fmt.Fprintln(w, "| remote peers | sender CPU cores | sender RSS MiB | sent kbps (all peers) | receiver fps min / mean | lowest link estimate kbps (start / end) | ramp-up s | load 1m |\n|---|---|---|---|---|---|---|---|")
	for _, p := range r.Points {
		ramp := fmt.Sprintf("%.1f", p.RampSeconds)
		if !p.Ramped {
			ramp = "> " + ramp + " (not ramped)"
		}
		fmt.Fprintf(w, "| %d | %.3f | %.0f | %.0f | %.1f / %.1f | %.0f / %.0f | %s | %.2f |\n", p.Peers, p.Sender.CPUCores, p.Sender.RSSMiB, p.SentKbps, p.MinRecvFPS, p.MeanRecvFPS,
			p.MinEstimateKbps[0], p.MinEstimateKbps[1], ramp, p.Load[0])
	}
	if r.Ratio3to1 > 0 {
		fmt.Fprintf(w, "\nCPU ratio 3:1 = %.2f×, 5:1 = %.2f×\n", r.Ratio3to1, r.Ratio5to1)
	}
	writeGoals(w, r.Goals)
}

// WritePlots writes call-setup.svg, call-cpu.svg, call-rss.svg and
// call-pss.svg into dir
// and returns their paths.
func (r *CallReport) WritePlots(dir string) ([]string, error) {
	s := r.Setup
	charts := map[string]func(io.Writer) error{
		"call-setup.svg": func(w io.Writer) error {
			c := plot.Chart{Title: "Call set-up, p50 (ms): native vs Chromium", YLabel: "ms",
				Categories: []string{"native join", "Chromium (navigation)", "Chromium (launch)"},
				Series:     []plot.Series{{Name: "p50", Values: []float64{s.Native.P50, s.ChromiumNav.P50, s.ChromiumLaunch.P50}}}}
			return plot.Bar(w, c)
		},
		"call-cpu.svg": func(w io.Writer) error {
			return plot.Bar(w, r.sideChart("CPU per side in a 1:1 call (cores)", "cores", func(s SideResult) float64 { return s.CPUCores }))
		},
		"call-pss.svg": func(w io.Writer) error {
			return plot.Bar(w, r.sideChart("Memory per side in a 1:1 call (MiB, summed PSS)", "MiB", func(s SideResult) float64 { return s.PSSMiB }))
		},
		"call-rss.svg": func(w io.Writer) error {
			return plot.Bar(w, r.sideChart("Memory per side in a 1:1 call (MiB, summed VmRSS)", "MiB", func(s SideResult) float64 { return s.RSSMiB }))
		},
	}
	return writeCharts(dir, charts)
}

// sideChart has one category per call and one series per side.
func (r *CallReport) sideChart(title, unit string, f func(SideResult) float64) plot.Chart {
	c := plot.Chart{Title: title, YLabel: unit, Series: []plot.Series{{Name: "side a (joins first)"}, {Name: "side b"}}}
	for _, call := range r.Calls {
		c.Categories = append(c.Categories, shortName(call))
		for i := range c.Series {
			c.Series[i].Values = append(c.Series[i].Values, f(call.Sides[i]))
		}
	}
	return c
}

// shortName labels a call by its sides' kinds and codec.
func shortName(c CallResult) string {
	name := c.Name
	if i := strings.Index(name, ","); i > 0 {
		name = name[:i]
	}
	name = strings.NewReplacer("native", "nat", "Chromium", "Cr").Replace(name)
	switch {
	case strings.Contains(c.Name, "H.264"):
		name += " H264"
	case strings.Contains(c.Name, "test"):
		name += " test"
	}
	return name
}

// WritePlots writes mesh-cpu.svg into dir and returns its path.
func (r *MeshReport) WritePlots(dir string) ([]string, error) {
	c := plot.Chart{Title: "Native sender CPU against remote peers (encode once)", YLabel: "cores", XLabel: "remote peers",
		Series: []plot.Series{{Name: "sender CPU (cores)"}}}
	for _, p := range r.Points {
		c.X = append(c.X, float64(p.Peers))
		c.Series[0].Values = append(c.Series[0].Values, p.Sender.CPUCores)
	}
	return writeCharts(dir, map[string]func(io.Writer) error{
		"mesh-cpu.svg": func(w io.Writer) error { return plot.Line(w, c) },
	})
}

func writeCharts(dir string, charts map[string]func(io.Writer) error) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var paths []string
	for name, write := range charts {
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		if err != nil {
			return paths, err
		}
		werr := write(f)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return paths, fmt.Errorf("%s: %w", path, werr)
		}
		paths = append(paths, path)
	}
	return paths, nil
}
