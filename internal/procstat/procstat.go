// Package procstat reads processes and the machine from Linux's /proc: the
// CPU time and memory of a process, the process tree below a root, the load
// average and the CPU model. The benchmarks sample their children with it.
//
// Invariants: an FS only reads files below its Root (a fake tree in tests);
// a process that exits while being read is skipped, never an error of the
// whole sample; CPU times are in clock ticks (USER_HZ = 100) until Stat.CPU
// turns them into a Duration.
package procstat

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// ClockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat. It
// is 100 on every Linux architecture Go supports.
const ClockTicks = 100

// Stat holds the fields of /proc/PID/stat the benchmarks use.
type Stat struct {
	PID   int
	Comm  string
	PPID  int
	Utime uint64 // clock ticks
	Stime uint64 // clock ticks
}

// Ticks returns user plus system CPU time in clock ticks.
func (s Stat) Ticks() uint64 { return s.Utime + s.Stime }

// CPU returns user plus system CPU time.
func (s Stat) CPU() time.Duration {
	return time.Duration(s.Ticks()) * time.Second / ClockTicks
}

// ParseStat parses the contents of /proc/PID/stat. The command name may
// contain spaces and parentheses, so fields are counted after its last ')'.
func ParseStat(text string) (Stat, error) {
	open := strings.IndexByte(text, '(')
	end := strings.LastIndexByte(text, ')')
	if open < 0 || end < open {
		return Stat{}, errors.New("stat: no (comm)")
	}
	pid, err := strconv.Atoi(strings.TrimSpace(text[:open]))
	if err != nil {
		return Stat{}, fmt.Errorf("stat: pid: %w", err)
	}
	// Fields after comm start with field 3 (state) at index 0.
	f := strings.Fields(text[end+1:])
	if len(f) < 13 {
		return Stat{}, fmt.Errorf("stat: %d fields after comm, want ≥ 13", len(f))
	}
	s := Stat{PID: pid, Comm: text[open+1 : end]}
	if s.PPID, err = strconv.Atoi(f[1]); err != nil {
		return Stat{}, fmt.Errorf("stat: ppid: %w", err)
	}
	if s.Utime, err = strconv.ParseUint(f[11], 10, 64); err != nil {
		return Stat{}, fmt.Errorf("stat: utime: %w", err)
	}
	if s.Stime, err = strconv.ParseUint(f[12], 10, 64); err != nil {
		return Stat{}, fmt.Errorf("stat: stime: %w", err)
	}
	return s, nil
}

// ParseKiB returns the value in KiB of the "key:   N kB" line of a
// /proc/PID/status or smaps_rollup text; found is false without that line.
func ParseKiB(text, key string) (kib int64, found bool, err error) {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != key {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return 0, true, fmt.Errorf("%s: no value", key)
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, true, fmt.Errorf("%s: %w", key, err)
		}
		return v, true, nil
	}
	return 0, false, nil
}

// FS reads process and machine information under a /proc root. The zero
// FS reads /proc.
type FS struct {
	// Root is the /proc directory; "" means /proc.
	Root string
}

func (p FS) root() string {
	if p.Root == "" {
		return "/proc"
	}
	return p.Root
}

// ReadFile reads a file below the root, e.g. "loadavg" or "1234/status".
func (p FS) ReadFile(name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(p.root(), name))
	return string(b), err
}

func (p FS) read(pid int, name string) (string, error) {
	return p.ReadFile(filepath.Join(strconv.Itoa(pid), name))
}

// Stat reads /proc/PID/stat.
func (p FS) Stat(pid int) (Stat, error) {
	text, err := p.read(pid, "stat")
	if err != nil {
		return Stat{}, err
	}
	return ParseStat(text)
}

// Cmdline returns pid's command line, its arguments joined by spaces.
func (p FS) Cmdline(pid int) (string, error) {
	text, err := p.read(pid, "cmdline")
	return strings.TrimSpace(strings.ReplaceAll(text, "\x00", " ")), err
}

// Memory returns VmRSS and Pss of pid in KiB. Pss is 0 where smaps_rollup
// is unreadable (a process exiting, an old kernel).
func (p FS) Memory(pid int) (rss, pss int64, err error) {
	status, err := p.read(pid, "status")
	if err != nil {
		return 0, 0, err
	}
	rss, found, err := ParseKiB(status, "VmRSS")
	if err != nil {
		return 0, 0, err
	}
	if !found {
		return 0, 0, fmt.Errorf("pid %d: no VmRSS in status", pid)
	}
	if rollup, rerr := p.read(pid, "smaps_rollup"); rerr == nil {
		pss, _, _ = ParseKiB(rollup, "Pss")
	}
	return rss, pss, nil
}

// All returns the stat of every process; processes that exit while being
// read are skipped.
func (p FS) All() ([]Stat, error) {
	entries, err := os.ReadDir(p.root())
	if err != nil {
		return nil, err
	}
	var out []Stat
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if s, err := p.Stat(pid); err == nil {
			out = append(out, s)
		}
	}
	return out, nil
}

// Tree returns root and all its descendants among procs, root first; nil
// when root is not among them.
func Tree(procs []Stat, root int) []Stat {
	children := make(map[int][]Stat)
	var out []Stat
	for _, s := range procs {
		children[s.PPID] = append(children[s.PPID], s)
		if s.PID == root {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil
	}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i].PID]...)
	}
	return out
}

// TreeTicks returns the CPU time (user+system, clock ticks) of root and
// all its descendants alive now; 0 when root is 0 or not running.
func (p FS) TreeTicks(root int) uint64 {
	if root == 0 {
		return 0
	}
	all, err := p.All()
	if err != nil {
		return 0
	}
	var sum uint64
	for _, s := range Tree(all, root) {
		sum += s.Ticks()
	}
	return sum
}

// LoadAvg returns the 1, 5 and 15 minute load averages of the machine
// (zeros when unreadable).
func (p FS) LoadAvg() [3]float64 {
	text, err := p.ReadFile("loadavg")
	if err != nil {
		return [3]float64{}
	}
	var l [3]float64
	_, _ = fmt.Sscan(text, &l[0], &l[1], &l[2])
	return l
}

// CPUModel is the first "model name" of cpuinfo, or GOARCH without one.
func (p FS) CPUModel() string {
	if info, err := p.ReadFile("cpuinfo"); err == nil {
		for line := range strings.Lines(info) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				return strings.TrimSpace(v)
			}
		}
	}
	return runtime.GOARCH
}

// Kernel is the kernel release (sys/kernel/osrelease), "" when unreadable.
func (p FS) Kernel() string {
	k, err := p.ReadFile("sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(k)
}
