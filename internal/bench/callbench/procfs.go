package callbench

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat. It
// is 100 on every Linux architecture Go supports.
const clockTicks = 100

// procStat holds the fields of /proc/PID/stat this package uses.
type procStat struct {
	PID   int
	Comm  string
	PPID  int
	Utime uint64 // clock ticks
	Stime uint64 // clock ticks
}

// Ticks returns user plus system CPU time in clock ticks.
func (s procStat) Ticks() uint64 { return s.Utime + s.Stime }

// parseStat parses the contents of /proc/PID/stat. The command name may
// contain spaces and parentheses, so fields are counted after its last ')'.
func parseStat(text string) (procStat, error) {
	open := strings.IndexByte(text, '(')
	end := strings.LastIndexByte(text, ')')
	if open < 0 || end < open {
		return procStat{}, errors.New("stat: no (comm)")
	}
	pid, err := strconv.Atoi(strings.TrimSpace(text[:open]))
	if err != nil {
		return procStat{}, fmt.Errorf("stat: pid: %w", err)
	}
	// Fields after comm start with field 3 (state) at index 0.
	f := strings.Fields(text[end+1:])
	if len(f) < 13 {
		return procStat{}, fmt.Errorf("stat: %d fields after comm, want ≥ 13", len(f))
	}
	s := procStat{PID: pid, Comm: text[open+1 : end]}
	if s.PPID, err = strconv.Atoi(f[1]); err != nil {
		return procStat{}, fmt.Errorf("stat: ppid: %w", err)
	}
	if s.Utime, err = strconv.ParseUint(f[11], 10, 64); err != nil {
		return procStat{}, fmt.Errorf("stat: utime: %w", err)
	}
	if s.Stime, err = strconv.ParseUint(f[12], 10, 64); err != nil {
		return procStat{}, fmt.Errorf("stat: stime: %w", err)
	}
	return s, nil
}

// parseKiB returns the value in KiB of the "key:   N kB" line of a
// /proc/PID/status or smaps_rollup text; found is false without that line.
func parseKiB(text, key string) (kib int64, found bool, err error) {
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

// procFS reads process information under a /proc root (a fake one in tests).
type procFS struct{ root string }

func (p procFS) read(pid int, name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(p.root, strconv.Itoa(pid), name))
	return string(b), err
}

// stat reads /proc/PID/stat.
func (p procFS) stat(pid int) (procStat, error) {
	text, err := p.read(pid, "stat")
	if err != nil {
		return procStat{}, err
	}
	return parseStat(text)
}

// memory returns VmRSS and Pss of pid in KiB. Pss is 0 where smaps_rollup
// is unreadable (a process exiting, an old kernel).
func (p procFS) memory(pid int) (rss, pss int64, err error) {
	status, err := p.read(pid, "status")
	if err != nil {
		return 0, 0, err
	}
	rss, _, err = parseKiB(status, "VmRSS")
	if err != nil {
		return 0, 0, err
	}
	if rollup, rerr := p.read(pid, "smaps_rollup"); rerr == nil {
		pss, _, _ = parseKiB(rollup, "Pss")
	}
	return rss, pss, nil
}

// all returns the stat of every process; processes that exit while being
// read are skipped.
func (p procFS) all() ([]procStat, error) {
	entries, err := os.ReadDir(p.root)
	if err != nil {
		return nil, err
	}
	var out []procStat
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if s, err := p.stat(pid); err == nil {
			out = append(out, s)
		}
	}
	return out, nil
}

// tree returns root and all its descendants among procs, root first.
func tree(procs []procStat, root int) []procStat {
	children := make(map[int][]procStat)
	var out []procStat
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

// readFile reads a file directly under the /proc root, e.g. "loadavg".
func (p procFS) readFile(name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(p.root, name))
	return string(b), err
}
