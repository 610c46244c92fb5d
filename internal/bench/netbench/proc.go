package netbench

// proc.go: the processes of one measurement: videochat serve and join,
// headless Chromium, tc on the namespace's loopback, and CPU time from
// /proc.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/videochat/videochat/internal/browsertest/chromium"
	"github.com/videochat/videochat/peer"
)

// child is a videochat process; it keeps the tail of its output and
// reports the URL `serve` prints.
type child struct {
	cmd     *exec.Cmd
	mu      sync.Mutex
	tail    []string
	url     chan string
	readers sync.WaitGroup
	done    chan struct{}
}

var serveRE = regexp.MustCompile(`serving on (http://[0-9.:]+)/`)

// startChild runs bin with args; stop ends it.
func startChild(bin string, args ...string) (*child, error) {
	c := &child{cmd: exec.Command(bin, args...), url: make(chan string, 1), done: make(chan struct{})}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := c.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	c.readers.Add(2)
	go c.read(stdout)
	go c.read(stderr)
	go func() {
		c.readers.Wait()
		_ = c.cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

func (c *child) read(r io.Reader) {
	defer c.readers.Done()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := serveRE.FindStringSubmatch(line); m != nil {
			select {
			case c.url <- m[1]:
			default:
			}
		}
		c.mu.Lock()
		c.tail = append(c.tail, line)
		if len(c.tail) > 20 {
			c.tail = c.tail[1:]
		}
		c.mu.Unlock()
	}
	_, _ = io.Copy(io.Discard, r)
}

func (c *child) lastLines() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.tail, "\n")
}

// stop interrupts the process, kills it after 5 s, and waits for it.
func (c *child) stop() {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// startServer runs `videochat serve` on loopback and returns its URL.
func startServer(ctx context.Context, bin string, args ...string) (*child, string, error) {
	c, err := startChild(bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	if err != nil {
		return nil, "", err
	}
	select {
	case u := <-c.url:
		return c, u, nil
	case <-c.done:
		return nil, "", fmt.Errorf("server exited:\n%s", c.lastLines())
	case <-ctx.Done():
		c.stop()
		return nil, "", fmt.Errorf("server did not start: %w", ctx.Err())
	}
}

// lastSnapshot reads the last line of a --stats-json file.
func lastSnapshot(path string) (peer.Snapshot, error) {
	f, err := os.Open(path)
	if err != nil {
		return peer.Snapshot{}, err
	}
	defer f.Close()
	var last []byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		last = append(last[:0], sc.Bytes()...)
	}
	var s peer.Snapshot
	return s, json.Unmarshal(last, &s)
}

// page is one headless Chromium showing one page.
type page struct {
	ctx         context.Context
	cancel      context.CancelFunc
	cancelAlloc context.CancelFunc
	dir         string
	pid         int
	out         *chromium.Output
}

// launch starts Chromium; clip, when not "", is its fake camera.
func launch(ctx context.Context, exe, clip string) (*page, error) {
	dir, err := os.MkdirTemp("", "netbench-chromium-")
	if err != nil {
		return nil, err
	}
	p := &page{dir: dir, out: &chromium.Output{}}
	var extra map[string]any
	if clip != "" {
		extra = map[string]any{"use-file-for-fake-video-capture": clip}
	}
	opts := append(chromium.Flags(dir, chromium.DefaultWidth, chromium.DefaultHeight, extra),
		chromedp.ExecPath(exe), chromedp.CombinedOutput(p.out))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	p.ctx, p.cancel = chromedp.NewContext(allocCtx)
	p.cancelAlloc = cancelAlloc
	if err := chromedp.Do(p.ctx, chromedp.Navigate("about:blank")); err != nil {
		p.close()
		return nil, fmt.Errorf("start Chromium (%s): %w\n%s", exe, err, p.out.Tail(2000))
	}
	if pr := chromedp.FromContext(p.ctx).Browser.Process(); pr != nil {
		p.pid = pr.Pid
	}
	return p, nil
}

func (p *page) navigate(url string) error {
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	return chromedp.Do(ctx, chromedp.Navigate(url))
}

// eval evaluates a JavaScript expression, awaiting a promise, into T.
func eval[T any](p *page, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

// waitJS polls a JavaScript condition until it is true or ctx ends.
func waitJS(ctx context.Context, p *page, what, cond string) error {
	for {
		ok, err := eval[bool](p, fmt.Sprintf("(async () => !!(await (%s)))()", cond))
		if err == nil && ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("Chromium: waiting for %s: %w", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (p *page) close() {
	if p.ctx != nil {
		ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
		_ = chromedp.Cancel(ctx)
		cancel()
		p.cancel()
	}
	p.cancelAlloc()
	_ = os.RemoveAll(p.dir)
}

// limitLo caps everything on the loopback interface to rate (tc syntax,
// e.g. "500kbit"); "" lifts the cap.
func limitLo(rate string) error {
	args := []string{"qdisc", "del", "dev", "lo", "root"}
	if rate != "" {
		args = []string{"qdisc", "replace", "dev", "lo", "root", "tbf", "rate", rate, "burst", "32kbit", "latency", "400ms"}
	}
	if out, err := exec.Command("tc", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("tc %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's CPU times.
const clockTicks = 100

// treeTicks returns the CPU time (user+system, clock ticks) of pid and all
// its descendants alive now.
func treeTicks(root int) int64 {
	if root == 0 {
		return 0
	}
	type st struct {
		ppid  int
		ticks int64
	}
	all := map[int]st{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// fields after the ")" of the command: state ppid ... utime(14) stime(15)
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) < 13 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		stt, _ := strconv.ParseInt(f[12], 10, 64)
		all[pid] = st{ppid: ppid, ticks: ut + stt}
	}
	var sum int64
	for pid, s := range all {
		for p := pid; p > 1; p = all[p].ppid {
			if p == root {
				sum += s.ticks
				break
			}
			if _, ok := all[p]; !ok {
				break
			}
		}
	}
	return sum
}

var errNoChromium = errors.New("no Chromium: set $CHROMIUM or pass --chromium")
