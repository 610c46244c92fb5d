package procstat

import "time"

// Usage is the CPU and memory one process tree used during a window.
type Usage struct {
	// CPUCores is CPU time (user+system, all processes of the tree) divided
	// by wall time: 1.0 is one core busy all the time.
	CPUCores float64 `json:"cpu_cores"`
	// RSSMiB is the mean over the window of the summed VmRSS; RSSMaxMiB its
	// maximum. For a process tree the sum counts shared pages once per
	// process, so it overstates; PSSMiB (proportional set size) does not.
	RSSMiB    float64 `json:"rss_mib"`
	RSSMaxMiB float64 `json:"rss_max_mib"`
	PSSMiB    float64 `json:"pss_mib"`
	// Processes is the largest number of processes seen in the tree.
	Processes int `json:"processes"`
}

// Meter samples the process trees under a set of root PIDs. CPU time is
// summed per PID as (last seen − value at the window's start), so a process
// that exits during the window keeps what it used up to its last sample.
// A Meter is used by one goroutine.
type Meter struct {
	fs    FS
	roots []int
	start time.Time
	end   time.Time
	trees []*treeUsage
}

type treeUsage struct {
	base, last map[int]uint64
	rss, pss   []int64 // KiB per sample
	procs      int
}

// NewMeter returns a Meter of the trees under roots, read from fs.
func NewMeter(fs FS, roots ...int) *Meter {
	m := &Meter{fs: fs, roots: roots}
	for range roots {
		m.trees = append(m.trees, &treeUsage{base: map[int]uint64{}, last: map[int]uint64{}})
	}
	return m
}

// Sample reads every tree once; the first call starts the window.
func (m *Meter) Sample() error {
	procs, err := m.fs.All()
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
		tu := m.trees[i]
		var rss, pss int64
		members := Tree(procs, root)
		for _, p := range members {
			if first {
				tu.base[p.PID] = p.Ticks()
			} else if _, ok := tu.base[p.PID]; !ok {
				tu.base[p.PID] = 0 // born during the window: all of its time counts
			}
			tu.last[p.PID] = p.Ticks()
			r, s, err := m.fs.Memory(p.PID)
			if err == nil {
				rss += r
				pss += s
			}
		}
		tu.procs = max(tu.procs, len(members))
		if !first {
			tu.rss = append(tu.rss, rss)
			tu.pss = append(tu.pss, pss)
		}
	}
	return nil
}

// Window is the time from the first to the last Sample.
func (m *Meter) Window() time.Duration { return m.end.Sub(m.start) }

// Usage returns the usage of tree i (the i-th root) over the window
// sampled so far.
func (m *Meter) Usage(i int) Usage {
	tu := m.trees[i]
	var ticks uint64
	for pid, last := range tu.last {
		if b := tu.base[pid]; last > b {
			ticks += last - b
		}
	}
	u := Usage{Processes: tu.procs}
	if wall := m.Window().Seconds(); wall > 0 {
		u.CPUCores = float64(ticks) / ClockTicks / wall
	}
	u.RSSMiB, u.RSSMaxMiB = meanMax(tu.rss)
	u.PSSMiB, _ = meanMax(tu.pss)
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
