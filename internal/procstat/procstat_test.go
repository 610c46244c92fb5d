package procstat

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name, text string
		want       Stat
		wantErr    bool
	}{
		{name: "plain", text: "4242 (videochat) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 3 4 20 0 9 0 1000 5000000 1200 18446744073709551615\n",
			want: Stat{PID: 4242, Comm: "videochat", PPID: 1, Utime: 250, Stime: 75}},
		{name: "comm with spaces and parens", text: "77 (Chrome_(Child) IO) R 70 77 77 0 -1 0 0 0 0 0 12 3 0 0 20 0 1 0 5 0 0",
			want: Stat{PID: 77, Comm: "Chrome_(Child) IO", PPID: 70, Utime: 12, Stime: 3}},
		{name: "truncated", text: "1 (x) S 0 1 1", wantErr: true},
		{name: "no comm", text: "1 x S 0", wantErr: true},
		{name: "bad utime", text: "1 (x) S 0 1 1 0 -1 0 0 0 0 0 abc 3 0 0", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseStat(tc.text)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err == nil && got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	if got := (Stat{Utime: 250, Stime: 75}).Ticks(); got != 325 {
		t.Errorf("Ticks = %d, want 325", got)
	}
}

func TestParseKiB(t *testing.T) {
	status := "Name:\tvideochat\nVmPeak:\t  900 kB\nVmRSS:\t   46128 kB\nRssAnon:\t 20000 kB\n"
	v, found, err := ParseKiB(status, "VmRSS")
	if err != nil || !found || v != 46128 {
		t.Fatalf("VmRSS = %d, %v, %v; want 46128", v, found, err)
	}
	if _, found, _ := ParseKiB(status, "Pss"); found {
		t.Fatal("Pss found in a status without it")
	}
	if _, _, err := ParseKiB("VmRSS:\tlots kB\n", "VmRSS"); err == nil {
		t.Fatal("no error for a non-numeric value")
	}
}

// fakeProc writes a /proc-like tree: pid → (ppid, ticks, rss KiB).
func fakeProc(t *testing.T, dir string, procs map[int][3]int) {
	t.Helper()
	for pid, p := range procs {
		d := filepath.Join(dir, strconv.Itoa(pid))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		stat := strconv.Itoa(pid) + " (p) S " + strconv.Itoa(p[0]) + " 0 0 0 -1 0 0 0 0 0 " + strconv.Itoa(p[1]) + " 0 0 0 20 0 1 0 1 0 0\n"
		write(t, filepath.Join(d, "stat"), stat)
		write(t, filepath.Join(d, "status"), "VmRSS:\t"+strconv.Itoa(p[2])+" kB\n")
		write(t, filepath.Join(d, "smaps_rollup"), "Rss: 1 kB\nPss:\t"+strconv.Itoa(p[2]/2)+" kB\n")
	}
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestTree(t *testing.T) {
	dir := t.TempDir()
	// 10 → 11 → 12, 10 → 13; 20 is unrelated; 1 is init.
	fakeProc(t, dir, map[int][3]int{1: {0, 0, 0}, 10: {1, 0, 0}, 11: {10, 0, 0}, 12: {11, 0, 0}, 13: {10, 0, 0}, 20: {1, 0, 0}})
	procs, err := FS{Root: dir}.All()
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]bool{}
	for _, p := range Tree(procs, 10) {
		got[p.PID] = true
	}
	if len(got) != 4 || !got[10] || !got[11] || !got[12] || !got[13] {
		t.Fatalf("Tree(10) = %v, want 10, 11, 12, 13", got)
	}
	if tr := Tree(procs, 99); tr != nil {
		t.Fatalf("tree of a missing root = %v, want nil", tr)
	}
}

func TestTreeTicks(t *testing.T) {
	dir := t.TempDir()
	// 10 → 11 → 12, 10 → 13; 20 is unrelated; utime 1, 2, 4, 8, 16.
	fakeProc(t, dir, map[int][3]int{1: {0, 0, 0}, 10: {1, 1, 0}, 11: {10, 2, 0}, 12: {11, 4, 0}, 13: {10, 8, 0}, 20: {1, 16, 0}})
	fs := FS{Root: dir}
	if got := fs.TreeTicks(10); got != 15 {
		t.Fatalf("TreeTicks(10) = %d, want 15", got)
	}
	if got := fs.TreeTicks(11); got != 6 {
		t.Fatalf("TreeTicks(11) = %d, want 6", got)
	}
	if got := fs.TreeTicks(99); got != 0 {
		t.Fatalf("TreeTicks of a missing root = %d, want 0", got)
	}
}

func TestMeter(t *testing.T) {
	dir := t.TempDir()
	fs := FS{Root: dir}
	fakeProc(t, dir, map[int][3]int{10: {1, 100, 1000}, 11: {10, 50, 3000}, 20: {1, 7, 2048}})
	m := NewMeter(fs, 10, 20)
	if err := m.Sample(); err != nil {
		t.Fatal(err)
	}
	// Child 11 exits (its last ticks, 80, still count); 12 is born with 20.
	fakeProc(t, dir, map[int][3]int{10: {1, 130, 1000}, 11: {10, 80, 3000}, 20: {1, 7, 2048}})
	if err := m.Sample(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "11")); err != nil {
		t.Fatal(err)
	}
	fakeProc(t, dir, map[int][3]int{10: {1, 160, 1000}, 12: {10, 20, 1024}, 20: {1, 7, 2048}})
	if err := m.Sample(); err != nil {
		t.Fatal(err)
	}
	m.end = m.start.Add(2 * time.Second) // fix the window: 2 s
	u := m.Usage(0)
	// (160−100) + (80−50) + 20 = 110 ticks = 1.1 s of CPU over 2 s.
	if u.CPUCores < 0.549 || u.CPUCores > 0.551 {
		t.Errorf("CPUCores = %v, want 0.55", u.CPUCores)
	}
	// RSS samples after the first: 4000 KiB, then 2024 KiB.
	if want := (4000.0 + 2024) / 2 / 1024; u.RSSMiB != want {
		t.Errorf("RSSMiB = %v, want %v", u.RSSMiB, want)
	}
	if u.RSSMaxMiB != 4000.0/1024 || u.Processes != 2 {
		t.Errorf("RSSMaxMiB = %v, Processes = %d; want %v, 2", u.RSSMaxMiB, u.Processes, 4000.0/1024)
	}
	if idle := m.Usage(1); idle.CPUCores != 0 || idle.RSSMiB != 2 || idle.PSSMiB != 1 {
		t.Errorf("idle side = %+v, want 0 cores, 2 MiB RSS, 1 MiB PSS", idle)
	}
}

func TestLoadAvg(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "loadavg"), "3.12 10.90 10.57 3/205 18529\n")
	if got := (FS{Root: dir}).LoadAvg(); got != [3]float64{3.12, 10.90, 10.57} {
		t.Fatalf("LoadAvg = %v", got)
	}
	if got := (FS{Root: t.TempDir()}).LoadAvg(); got != [3]float64{} {
		t.Fatalf("LoadAvg without loadavg = %v, want zeros", got)
	}
}

func TestMachine(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "cpuinfo"), "processor\t: 0\nmodel name\t: Test CPU @ 1GHz\nflags\t: x\n")
	if err := os.MkdirAll(filepath.Join(dir, "sys/kernel"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "sys/kernel/osrelease"), "6.1.0-test\n")
	fs := FS{Root: dir}
	if got := fs.CPUModel(); got != "Test CPU @ 1GHz" {
		t.Errorf("CPUModel = %q", got)
	}
	if got := fs.Kernel(); got != "6.1.0-test" {
		t.Errorf("Kernel = %q", got)
	}
}

// TestSelf reads this test process from the real /proc.
func TestSelf(t *testing.T) {
	var fs FS
	pid := os.Getpid()
	s, err := fs.Stat(pid)
	if err != nil || s.PID != pid {
		t.Fatalf("Stat(self) = %+v, %v", s, err)
	}
	rss, _, err := fs.Memory(pid)
	if err != nil || rss <= 0 {
		t.Fatalf("Memory(self) rss = %d KiB, %v", rss, err)
	}
	if cmd, err := fs.Cmdline(pid); err != nil || !strings.Contains(cmd, "procstat.test") {
		t.Errorf("Cmdline(self) = %q, %v", cmd, err)
	}
	if _, _, err := fs.Memory(1 << 30); err == nil {
		t.Fatal("Memory of a missing pid: no error")
	}
}
