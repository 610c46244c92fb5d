package e2e

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is a videochat process started by a test. Its output is kept for
// failure reports; Lines delivers stdout lines as they come.
type proc struct {
	t     testing.TB
	cmd   *exec.Cmd
	mu    sync.Mutex
	out   bytes.Buffer
	lines chan string
	done  chan struct{}
	err   error
	stdin io.WriteCloser // set by startWithStdin
}

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
	p := &proc{t: t, lines: make(chan string, 1024), done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	if withStdin {
		w, err := p.cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		p.stdin = w
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = &lockedWriter{p: p}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start videochat %v: %v", args, err)
	}
	copied := make(chan struct{})
	go p.copyLines(stdout, copied)
	go func() {
		<-copied
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(5 * time.Second)
		if t.Failed() {
			t.Logf("videochat %s output:\n%s", strings.Join(args, " "), p.output())
		}
	})
	return p
}

func (p *proc) copyLines(r io.Reader, done chan<- struct{}) {
	defer close(done)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		p.mu.Lock()
		p.out.WriteString(line + "\n")
		p.mu.Unlock()
		select {
		case p.lines <- line:
		default: // nobody is reading lines: they stay in out
		}
	}
	close(p.lines)
}

type lockedWriter struct{ p *proc }

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.out.Write(b)
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// waitLine waits for a stdout line matching re and returns its submatches.
func (p *proc) waitLine(ctx context.Context, re *regexp.Regexp) []string {
	p.t.Helper()
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("process ended before printing a line matching %q", re)
			}
			if m := re.FindStringSubmatch(line); m != nil {
				return m
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
	case <-p.done:
	case <-ctx.Done():
		p.t.Fatalf("process still running: %v", ctx.Err())
	}
	if p.err == nil {
		return 0
	}
	if ee, ok := p.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	p.t.Fatalf("wait: %v", p.err)
	return -1
}

// signal sends sig to the process.
func (p *proc) signal(sig syscall.Signal) {
	_ = p.cmd.Process.Signal(sig)
}

// stop interrupts the process and kills it if it does not exit in time.
func (p *proc) stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

var serveURL = regexp.MustCompile(`serving on (https?://[0-9.:]+)/`)

// startServer runs `videochat serve` on a free loopback port and returns
// the process and its base URL.
func startServer(ctx context.Context, t testing.TB, args ...string) (*proc, string) {
	t.Helper()
	p := start(t, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	m := p.waitLine(ctx, serveURL)
	return p, m[1]
}

// joinArgs are the flags that keep a native peer on loopback.
func joinArgs(server, room, name string, extra ...string) []string {
	return append([]string{"join", "--server", server, "--room", room, "--name", name,
		"--ice-interface", "lo", "--mdns=false"}, extra...)
}
