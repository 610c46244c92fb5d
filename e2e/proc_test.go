package e2e

import (
	"context"
	"io"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/childproc"
	"github.com/videochat/videochat/internal/procstat"
)

// proc is a videochat process started by a test (a childproc.Child). Its
// output is kept for failure reports; waitLine reads stdout lines as they
// come.
type proc struct {
	t     testing.TB
	c     *childproc.Child
	lines chan string    // stdout lines not yet read by waitLine
	stdin io.WriteCloser // set by startWithStdin
}

// keepOutput bounds the output a proc keeps for output() and failure
// reports.
const keepOutput = 4 << 20

// start runs videochat with args. The process is killed at test cleanup
// if it is still running.
func start(t testing.TB, args ...string) *proc {
	t.Helper()
	return startProc(t, false, args...)
}

// startWithStdin is start with a pipe to the process's standard input.
func startWithStdin(t testing.TB, args ...string) *proc {
	t.Helper()
	return startProc(t, true, args...)
}

func startProc(t testing.TB, withStdin bool, args ...string) *proc {
	t.Helper()
	return startBinary(t, binPath, withStdin, args...)
}

// startBinary is startProc for another build of videochat (bin).
func startBinary(t testing.TB, bin string, withStdin bool, args ...string) *proc {
	t.Helper()
	return launch(t, childproc.Config{Path: bin, Args: args, Stdin: withStdin})
}

// startWithEnv is start with env added to the process's environment.
func startWithEnv(t testing.TB, env []string, args ...string) *proc {
	t.Helper()
	return launch(t, childproc.Config{Path: binPath, Args: args, Env: env})
}

// launch starts cfg (its Stdout, StopSignal and KeepOutput are set here).
func launch(t testing.TB, cfg childproc.Config) *proc {
	t.Helper()
	p := &proc{t: t, lines: make(chan string, 1024)}
	cfg.StopSignal, cfg.KeepOutput = syscall.SIGINT, keepOutput
	cfg.Stdout = func(line string) {
		select {
		case p.lines <- line:
		default: // nobody is reading lines: they stay in the output
		}
	}
	c, err := childproc.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start videochat %v: %v", cfg.Args, err)
	}
	p.c, p.stdin = c, c.Stdin
	t.Cleanup(func() {
		p.stop(5 * time.Second)
		if t.Failed() {
			t.Logf("videochat %s output:\n%s", strings.Join(cfg.Args, " "), p.output())
		}
	})
	return p
}

func (p *proc) output() string { return p.c.Output() }

// pid is the process id.
func (p *proc) pid() int { return p.c.PID }

// done is closed when the process has exited and its output is read.
func (p *proc) done() <-chan struct{} { return p.c.Done() }

// exited reports whether done is closed.
func (p *proc) exited() bool { return p.c.Exited() }

// waitLine waits for a stdout line matching re and returns its submatches.
func (p *proc) waitLine(ctx context.Context, re *regexp.Regexp) []string {
	p.t.Helper()
	for {
		select {
		case line := <-p.lines:
			if m := re.FindStringSubmatch(line); m != nil {
				return m
			}
		case <-p.c.Done():
			if len(p.lines) == 0 { // every line is handed over before Done
				p.t.Fatalf("process ended before printing a line matching %q", re)
			}
		case <-ctx.Done():
			p.t.Fatalf("no line matching %q: %v", re, ctx.Err())
		}
	}
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(ctx context.Context) int {
	p.t.Helper()
	select {
	case <-p.c.Done():
	case <-ctx.Done():
		p.t.Fatalf("process still running: %v", ctx.Err())
	}
	code, err := p.c.ExitCode()
	if err != nil {
		p.t.Fatalf("wait: %v", err)
	}
	return code
}

// signal sends sig to the process.
func (p *proc) signal(sig syscall.Signal) { p.c.Signal(sig) }

// stop interrupts the process and kills it if it does not exit in time.
func (p *proc) stop(grace time.Duration) { _ = p.c.Stop(grace) }

// startServer runs `videochat serve` on a free loopback port and returns
// the process and its base URL.
func startServer(ctx context.Context, t testing.TB, args ...string) (*proc, string) {
	t.Helper()
	p := start(t, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	m := p.waitLine(ctx, childproc.ServingOn)
	return p, m[1]
}

// joinArgs are the flags that keep a native peer on loopback.
func joinArgs(server, room, name string, extra ...string) []string {
	return append([]string{"join", "--server", server, "--room", room, "--name", name,
		"--ice-interface", "lo", "--mdns=false"}, extra...)
}

// cpuTicks is utime+stime of a process, in clock ticks (0 when it is gone).
func cpuTicks(pid int) int64 {
	s, err := procstat.FS{}.Stat(pid)
	if err != nil {
		return 0
	}
	return int64(s.Ticks())
}

// rssKB is a process's resident set in KiB (0 when it is gone).
func rssKB(pid int) int64 {
	rss, _, _ := procstat.FS{}.Memory(pid)
	return rss
}
