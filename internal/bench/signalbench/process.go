package signalbench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/videochat/videochat/internal/procstat"
)

// ChildConfig describes a child process to start.
type ChildConfig struct {
	// Path and Args are the program and its arguments.
	Path string
	Args []string
	// Env is added to this process's environment.
	Env []string
	// CPUs, when set, pins the child (every thread) to these CPUs: through
	// taskset when it is installed, so that the affinity holds from the
	// first instruction, else with sched_setaffinity right after the start.
	CPUs []int
	// Ready matches the line of the child's standard output that says it
	// is ready; its first submatch is returned as Child.Ready. Nil means
	// ready at once.
	Ready *regexp.Regexp
	// ReadyTimeout bounds the wait for Ready (default 20 s).
	ReadyTimeout time.Duration
}

// Child is a running child process. Close stops it.
type Child struct {
	// PID is the child's process id.
	PID int
	// Ready is the first submatch of ChildConfig.Ready.
	Ready string
	// Pinning says how the affinity was set ("taskset", "sched_setaffinity"
	// or "" when not pinned).
	Pinning string

	cmd    *exec.Cmd
	stderr *tail
	exited chan struct{}
	pipes  sync.WaitGroup
}

// StartChild starts cfg's program and waits until it is ready.
func StartChild(ctx context.Context, cfg ChildConfig) (*Child, error) {
	path, args := cfg.Path, cfg.Args
	c := &Child{stderr: &tail{max: 4096}, exited: make(chan struct{})}
	if len(cfg.CPUs) > 0 {
		if ts, err := exec.LookPath("taskset"); err == nil {
			args = append([]string{"-c", cpuList(cfg.CPUs), path}, args...)
			path, c.Pinning = ts, "taskset"
		}
	}
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), cfg.Env...)
	cmd.Stderr = c.stderr
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cfg.Path, err)
	}
	c.cmd, c.PID = cmd, cmd.Process.Pid
	go func() {
		_ = cmd.Wait()
		_ = pw.Close()
		close(c.exited)
	}()
	if len(cfg.CPUs) > 0 && c.Pinning == "" {
		if err := PinProcess(c.PID, cfg.CPUs); err == nil {
			c.Pinning = "sched_setaffinity"
		}
	}
	ready := make(chan string, 1)
	c.pipes.Add(1)
	go func() {
		defer c.pipes.Done()
		scanReady(pr, cfg.Ready, ready)
	}()
	if cfg.Ready == nil {
		return c, nil
	}
	return c, c.awaitReady(ctx, cfg, ready)
}

// awaitReady waits for the ready line; on failure it stops the child.
func (c *Child) awaitReady(ctx context.Context, cfg ChildConfig, ready <-chan string) error {
	wait := cfg.ReadyTimeout
	if wait <= 0 {
		wait = 20 * time.Second
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	var err error
	select {
	case c.Ready = <-ready:
		return nil
	case <-c.exited:
		err = fmt.Errorf("%s exited before it was ready: %s", cfg.Path, c.stderr.String())
	case <-timer.C:
		err = fmt.Errorf("%s not ready within %v: %s", cfg.Path, wait, c.stderr.String())
	case <-ctx.Done():
		err = ctx.Err()
	}
	c.Close()
	return err
}

// scanReady reads the child's output to its end; the first line that
// matches re sends its submatch on ready.
func scanReady(r io.Reader, re *regexp.Regexp, ready chan<- string) {
	sc := bufio.NewScanner(r)
	sent := re == nil
	for sc.Scan() {
		if sent {
			continue
		}
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			ready <- m[len(m)-1]
			sent = true
		}
	}
	_, _ = io.Copy(io.Discard, r)
}

// Close stops the child: SIGTERM, then SIGKILL after 5 s. It waits for the
// process and its output goroutines.
func (c *Child) Close() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(5 * time.Second)
	select {
	case <-c.exited:
	case <-t.C:
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
	t.Stop()
	c.pipes.Wait()
}

// Exited reports whether the child has ended.
func (c *Child) Exited() bool {
	select {
	case <-c.exited:
		return true
	default:
		return false
	}
}

// Stderr returns the end of the child's standard error.
func (c *Child) Stderr() string { return c.stderr.String() }

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = t.buf[over:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}

// serverReady matches the line `videochat serve` prints once it listens.
const serverReady = `serving on (http://[^/\s]+)`

// StartServer starts bin with args (for example "serve --addr
// 127.0.0.1:0"), with GOMAXPROCS set to len(cpus) when pinned, and waits
// for the line that says where it serves; its base URL is in Ready.
func StartServer(ctx context.Context, bin string, args []string, cpus []int) (*Child, error) {
	cfg := ChildConfig{Path: bin, Args: args, CPUs: cpus, Ready: regexp.MustCompile(serverReady)}
	if len(cpus) > 0 {
		cfg.Env = []string{"GOMAXPROCS=" + strconv.Itoa(len(cpus))}
	}
	return StartChild(ctx, cfg)
}

// StartRedis starts redis-server on a free loopback port, without
// persistence, and returns it with its redis:// URL in Ready.
func StartRedis(ctx context.Context, cpus []int) (*Child, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis backend: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	c, err := StartChild(ctx, ChildConfig{Path: bin, CPUs: cpus, Args: []string{"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--maxclients", "10000"}})
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := awaitRedis(ctx, addr); err != nil {
		c.Close()
		return nil, fmt.Errorf("redis-server: %w: %s", err, c.Stderr())
	}
	c.Ready = "redis://" + addr + "/0"
	return c, nil
}

// awaitRedis pings addr until it answers PONG, for up to 10 s.
func awaitRedis(ctx context.Context, addr string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		if redisPing(addr) == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("not answering PING")
		}
		if !sleep(ctx, 50*time.Millisecond) {
			return ctx.Err()
		}
	}
}

func redisPing(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING answered %q: %v", line, err)
	}
	return nil
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
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

// PinProcess pins every thread of pid to cpus.
func PinProcess(pid int, cpus []int) error {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return err
	}
	var errs []error
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		errs = append(errs, unix.SchedSetaffinity(tid, &set))
	}
	return errors.Join(errs...)
}

// CPUs returns the CPUs this process may run on.
func CPUs() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, err
	}
	var out []int
	for c := range 1024 {
		if set.IsSet(c) {
			out = append(out, c)
		}
	}
	return out, nil
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

// cpuList renders cpus as taskset's list, "0,2,3".
func cpuList(cpus []int) string {
	parts := make([]string, len(cpus))
	for i, c := range cpus {
		parts[i] = strconv.Itoa(c)
	}
	return strings.Join(parts, ",")
}
