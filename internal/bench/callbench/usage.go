package callbench

import (
	"fmt"
	"time"
)

// Usage is the CPU and memory one side used during a measurement window.
type Usage struct {
	// CPUCores is CPU time (user+system, all processes of the side) divided
	// by wall time: 1.0 is one core busy all the time.
	CPUCores float64 `json:"cpu_cores"`
	// RSSMiB is the mean over the window of the summed VmRSS; RSSMaxMiB its
	// maximum. For a process tree the sum counts shared pages once per
	// process, so it overstates; PSSMiB (proportional set size) does not.
	RSSMiB    float64 `json:"rss_mib"`
	RSSMaxMiB float64 `json:"rss_max_mib"`
	PSSMiB    float64 `json:"pss_mib"`
	// Processes is the largest number of processes seen in the side.
	Processes int `json:"processes"`
}

// meter samples the process trees under a set of root PIDs. CPU time is
// summed per PID as (last seen − value at the window's start), so a process
// that exits during the window keeps what it used up to its last sample.
type meter struct {
	fs    procFS
	roots []int
	start time.Time
	end   time.Time
	sides []*sideUsage
}

type sideUsage struct {
	base, last map[int]uint64
	rss, pss   []int64 // KiB per sample
	procs      int
}

func newMeter(fs procFS, roots ...int) *meter {
	m := &meter{fs: fs, roots: roots}
	for range roots {
		m.sides = append(m.sides, &sideUsage{base: map[int]uint64{}, last: map[int]uint64{}})
	}
	return m
}

// sample reads every side once; the first call starts the window.
func (m *meter) sample() error {
	procs, err := m.fs.all()
	if err != nil {
		return err
	}
	now := time.Now()
	first := m.start.IsZero()
	if first {
		m.start = now
	}
	m.end = now
	for i, root := range m.roots {
		su := m.sides[i]
		var rss, pss int64
		members := tree(procs, root)
		for _, p := range members {
			if first {
				su.base[p.PID] = p.Ticks()
			} else if _, ok := su.base[p.PID]; !ok {
				su.base[p.PID] = 0 // born during the window: all of its time counts
			}
			su.last[p.PID] = p.Ticks()
			r, s, err := m.fs.memory(p.PID)
			if err == nil {
				rss += r
				pss += s
			}
		}
		su.procs = max(su.procs, len(members))
		if !first {
			su.rss = append(su.rss, rss)
			su.pss = append(su.pss, pss)
		}
	}
	return nil
}

// usage returns side i's usage over the window sampled so far.
func (m *meter) usage(i int) Usage {
	su := m.sides[i]
	var ticks uint64
	for pid, last := range su.last {
		if b := su.base[pid]; last > b {
			ticks += last - b
		}
	}
	u := Usage{Processes: su.procs}
	if wall := m.end.Sub(m.start).Seconds(); wall > 0 {
		u.CPUCores = float64(ticks) / clockTicks / wall
	}
	u.RSSMiB, u.RSSMaxMiB = meanMax(su.rss)
	u.PSSMiB, _ = meanMax(su.pss)
	return u
}

// meanMax returns the mean and maximum of KiB samples, in MiB.
func meanMax(kib []int64) (mean, maxv float64) {
	if len(kib) == 0 {
		return 0, 0
	}
	var sum, mx int64
	for _, v := range kib {
		sum += v
		mx = max(mx, v)
	}
	return float64(sum) / float64(len(kib)) / 1024, float64(mx) / 1024
}

// loadAvg returns the 1- and 5-minute load averages of the machine.
func loadAvg(fs procFS) [2]float64 {
	b, err := fs.readFile("loadavg")
	if err != nil {
		return [2]float64{}
	}
	var a, b5 float64
	_, _ = fmt.Sscan(b, &a, &b5)
	return [2]float64{a, b5}
}
