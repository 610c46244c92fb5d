package signalbench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/videochat/videochat/internal/childproc"
	"github.com/videochat/videochat/internal/procstat"
)

// StartServer starts bin with args (for example "serve --addr
// 127.0.0.1:0"), pinned to cpus with GOMAXPROCS set to len(cpus) when
// given, and waits for the line that says where it serves; its base URL is
// in Ready.
func StartServer(ctx context.Context, bin string, args []string, cpus []int) (*childproc.Child, error) {
	cfg := childproc.Config{Path: bin, Args: args, CPUs: cpus, Ready: childproc.ServingOn}
	if len(cpus) > 0 {
		cfg.Env = []string{"GOMAXPROCS=" + strconv.Itoa(len(cpus))}
	}
	return childproc.Start(ctx, cfg)
}

// ProcessTarget is a Target whose memory and CPU come from /proc/pid and
// whose goroutine count comes from the server's /metrics or pprof endpoint.
func ProcessTarget(url string, pid int) Target {
	return Target{
		URL:        url,
		RSS:        func() (int64, error) { return ProcRSS(pid) },
		CPU:        func() (time.Duration, error) { return ProcCPU(pid) },
		Goroutines: func() (int, error) { return Goroutines(url) },
		Shed:       func() (int, error) { return Shed(url) },
	}
}

// Shed reads the messages the server at base has shed under its relay cap
// (videochat_signal_shed_messages_total on /metrics).
func Shed(base string) (int, error) {
	return scrape(strings.TrimSuffix(base, "/")+"/metrics", "videochat_signal_shed_messages_total ")
}

// ProcRSS reads VmRSS of pid from /proc, in bytes.
func ProcRSS(pid int) (int64, error) {
	rss, _, err := procstat.FS{}.Memory(pid)
	return rss << 10, err
}

// ProcCPU reads the user+system CPU time of pid from /proc.
func ProcCPU(pid int) (time.Duration, error) {
	s, err := procstat.FS{}.Stat(pid)
	return s.CPU(), err
}

// Goroutines asks the server at base for its goroutine count: the
// go_goroutines gauge of /metrics, else the total of
// /debug/pprof/goroutine?debug=1.
func Goroutines(base string) (int, error) {
	base = strings.TrimSuffix(base, "/")
	if v, err := scrape(base+"/metrics", "go_goroutines "); err == nil {
		return v, nil
	}
	v, err := scrape(base+"/debug/pprof/goroutine?debug=1", "goroutine profile: total ")
	if err != nil {
		return 0, errors.New("the server exposes neither /metrics nor /debug/pprof")
	}
	return v, nil
}

// scrape fetches url and parses the number after prefix at a line start.
func scrape(url, prefix string) (int, error) {
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: %s", url, resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return int(f), err
		}
	}
	return 0, fmt.Errorf("%s: no %q line", url, strings.TrimSpace(prefix))
}

// RaiseNoFile raises this process's open-file limit (soft and hard) to at
// least want, as far as the system allows, and returns the soft limit in
// force. Children started afterwards inherit it.
func RaiseNoFile(want uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur >= want {
		return lim.Cur, nil
	}
	next := syscall.Rlimit{Cur: want, Max: max(lim.Max, want)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &next); err != nil {
		// Not allowed to raise the hard limit: go as far as it.
		next = syscall.Rlimit{Cur: lim.Max, Max: lim.Max}
		if err2 := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &next); err2 != nil {
			return lim.Cur, err2
		}
		return next.Cur, fmt.Errorf("open-file limit capped at %d: %w", next.Cur, err)
	}
	return next.Cur, nil
}
