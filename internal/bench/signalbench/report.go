package signalbench

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the result of one run. Durations are in milliseconds (float)
// and memory in bytes; a figure that could not be measured is nil.
type Report struct {
	Setup Setup        `json:"setup"`
	Join  JoinReport   `json:"join"`
	Idle  IdleReport   `json:"idle"`
	Load  []LoadReport `json:"load"`
	// Notes lists what limited or disturbed the run.
	Notes []string `json:"notes,omitempty"`
}

// Setup describes the machine and the run.
type Setup struct {
	Machine       string  `json:"machine"`
	CPUs          int     `json:"cpus"`
	GoVersion     string  `json:"goVersion"`
	LoadAvg       string  `json:"loadAvg,omitempty"`
	Target        string  `json:"target"`
	Backend       string  `json:"backend"`
	ServerCPUs    string  `json:"serverCpus,omitempty"`
	GeneratorCPUs string  `json:"generatorCpus,omitempty"`
	Peers         int     `json:"peers"`
	RoomSize      int     `json:"roomSize"`
	StepSeconds   float64 `json:"stepSeconds"`
	NoFileLimit   uint64  `json:"noFileLimit,omitempty"`
}

// JoinReport is phase 1: connecting and joining all peers, then joins made
// one at a time with all of them connected.
type JoinReport struct {
	Connected   int     `json:"connected"`
	Failed      int     `json:"failed"`
	Seconds     float64 `json:"seconds"`
	PerSecond   float64 `json:"perSecond"`
	Concurrency int     `json:"concurrency"`
	// Latency is join sent → welcome received, while connecting.
	Latency Latency `json:"latency"`
	// Probe is the same for joins made one at a time once all peers are
	// connected (the latency a newcomer sees on a loaded server).
	Probe Latency `json:"probe"`
}

// IdleReport is phase 2: the server at rest with all peers connected.
type IdleReport struct {
	BaselineRSS  *int64   `json:"baselineRss"`
	RSS          *int64   `json:"rss"`
	BytesPerPeer *float64 `json:"bytesPerPeer"`
	Goroutines   *int     `json:"goroutines"`
}

// LoadReport is one load step.
type LoadReport struct {
	OfferedRate  float64        `json:"offeredRate"`  // msg/s asked for
	SentRate     float64        `json:"sentRate"`     // msg/s the generator wrote
	RelayedRate  float64        `json:"relayedRate"`  // msg/s received back
	Senders      int            `json:"senders"`      // peers sending in this step
	Sent         int64          `json:"sent"`         // messages written
	Received     int64          `json:"received"`     // messages relayed back
	Lost         int64          `json:"lost"`         // sent but never received
	Shed         *int64         `json:"shed"`         // of those, shed by the server's relay cap (from its /metrics)
	Behind       int64          `json:"behind"`       // offered but not sent: the generator or the server's reads fell behind
	WriteErrors  int64          `json:"writeErrors"`  // failed writes (connection gone or write timeout)
	Latency      Latency        `json:"latency"`      // send → receive of relayed messages
	ServerCPU    *float64       `json:"serverCpu"`    // server CPU use, 1.0 = one core
	GeneratorCPU float64        `json:"generatorCpu"` // the generator's own CPU use
	Errors       map[string]int `json:"errors"`       // error frames by code
	Evictions    map[string]int `json:"evictions"`    // connections the server ended, by reason
}

// Latency summarises a histogram in milliseconds.
type Latency struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Max   float64 `json:"max"`
}

func latencyOf(h *Histogram) Latency {
	return Latency{Count: h.Count(), P50: ms(h.Quantile(0.5)), P99: ms(h.Quantile(0.99)),
		P999: ms(h.Quantile(0.999)), Max: ms(h.Max())}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// WriteText writes r as human-readable tables.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	s := r.Setup
	fmt.Fprintf(tw, "machine\t%s, %d CPUs, %s, load %s\n", s.Machine, s.CPUs, s.GoVersion, s.LoadAvg)
	fmt.Fprintf(tw, "target\t%s (backend %s), server CPUs %s, generator CPUs %s\n", s.Target, s.Backend, orNA(s.ServerCPUs), orNA(s.GeneratorCPUs))
	fmt.Fprintf(tw, "peers\t%d in rooms of %d, %.0f s per load step\n", s.Peers, s.RoomSize, s.StepSeconds)
	j := r.Join
	fmt.Fprintf(tw, "joins\t%d connected, %d failed in %.2f s: %.0f joins/s (%d in flight); join p50 %.3f ms p99 %.3f ms\n",
		j.Connected, j.Failed, j.Seconds, j.PerSecond, j.Concurrency, j.Latency.P50, j.Latency.P99)
	fmt.Fprintf(tw, "join probes\t%d one at a time with all connected: p50 %.3f ms p99 %.3f ms max %.3f ms\n",
		j.Probe.Count, j.Probe.P50, j.Probe.P99, j.Probe.Max)
	i := r.Idle
	fmt.Fprintf(tw, "idle\tRSS %s (baseline %s): %s per peer; goroutines %s\n",
		bytesOrNA(i.RSS), bytesOrNA(i.BaselineRSS), perPeerOrNA(i.BytesPerPeer), intOrNA(i.Goroutines))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "offered/s\tsent/s\trelayed/s\tp50 ms\tp99 ms\tp99.9 ms\tmax ms\tlost\tshed\tbehind\tserver CPU\tgen CPU\terrors\tevictions\t")
	for _, l := range r.Load {
		fmt.Fprintf(tw, "%.0f\t%.0f\t%.0f\t%.3f\t%.3f\t%.3f\t%.1f\t%d\t%s\t%d\t%s\t%.2f\t%s\t%s\t\n",
			l.OfferedRate, l.SentRate, l.RelayedRate, l.Latency.P50, l.Latency.P99, l.Latency.P999, l.Latency.Max,
			l.Lost, int64OrNA(l.Shed), l.Behind, floatOrNA(l.ServerCPU), l.GeneratorCPU, countsText(l.Errors), countsText(l.Evictions))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note:", n)
	}
	return nil
}

func orNA(s string) string {
	if s == "" {
		return "n/a"
	}
	return s
}

func bytesOrNA(v *int64) string {
	if v == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.1f MiB", float64(*v)/(1<<20))
}

func perPeerOrNA(v *float64) string {
	if v == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.0f B (%.2f KiB)", *v, *v/1024)
}

func intOrNA(v *int) string {
	if v == nil {
		return "n/a"
	}
	return fmt.Sprint(*v)
}

func int64OrNA(v *int64) string {
	if v == nil {
		return "n/a"
	}
	return fmt.Sprint(*v)
}

func floatOrNA(v *float64) string {
	if v == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", *v)
}

// countsText renders counts by key as "a=1,b=2", or "-".
func countsText(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, ",")
}
