// Package childproc runs a program as a child process for the benchmarks
// and the end-to-end tests: it hands each line of the child's output to the
// caller, waits for the line that says the child is ready (videochat
// serve's "serving on URL"), pins it to CPUs, and stops it.
//
// Invariants:
//   - Each Child owns three goroutines (a reader per output stream and a
//     waiter); all three end when the process has exited and its output is
//     read to the end. Done is closed only after that, so every line has
//     been handed over by then.
//   - Stop is the stop path: a signal, then SIGKILL after a grace period.
//     It returns only when Done is closed. A Child that failed to become
//     ready is stopped by Start.
//   - Line callbacks run on the reader goroutines, one line at a time per
//     stream; a slow callback slows only that child's output.
package childproc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ServingOn matches the line `videochat serve` (and the bench sink) prints
// on standard output once it listens; its submatch is the base URL.
var ServingOn = regexp.MustCompile(`serving on (https?://[^/\s]+)/`)

// Config describes a child process to start.
type Config struct {
	// Path and Args are the program and its arguments.
	Path string
	Args []string
	// Env is added to this process's environment.
	Env []string
	// CPUs, when set, pins the child (every thread) to these CPUs: through
	// taskset when it is installed, so that the affinity holds from the
	// first instruction, else with sched_setaffinity right after the start.
	CPUs []int
	// Stdin, when set, gives the child a pipe as standard input
	// (Child.Stdin).
	Stdin bool
	// Stdout and Stderr, when set, receive each line of the child's
	// standard output and standard error.
	Stdout, Stderr func(line string)
	// Ready matches the line of the child's standard output that says it
	// is ready; its last submatch is returned as Child.Ready. Nil means
	// ready at once.
	Ready *regexp.Regexp
	// ReadyTimeout bounds the wait for Ready (default 20 s).
	ReadyTimeout time.Duration
	// StopSignal is what Stop sends first (default SIGTERM).
	StopSignal os.Signal
	// KeepOutput is how many bytes of the latest output (both streams, in
	// the order read) Output returns; 0 keeps 4 KiB.
	KeepOutput int
}

// Child is a running child process.
type Child struct {
	// PID is the child's process id.
	PID int
	// Ready is the last submatch of Config.Ready.
	Ready string
	// Pinning says how the affinity was set ("taskset", "sched_setaffinity"
	// or "" when not pinned).
	Pinning string
	// Stdin is the pipe to the child's standard input when Config.Stdin
	// is set.
	Stdin io.WriteCloser

	name    string
	cmd     *exec.Cmd
	stopSig os.Signal
	out     *tail
	done    chan struct{}
	err     error // cmd.Wait's, set before done is closed
}

// Start starts cfg's program and waits until it is ready (see
// Config.Ready), ctx ends, or it exits.
func Start(ctx context.Context, cfg Config) (*Child, error) {
	path, args := cfg.Path, cfg.Args
	c := &Child{name: cfg.Path, stopSig: cfg.StopSignal, done: make(chan struct{}),
		out: &tail{max: cfg.KeepOutput}}
	if c.stopSig == nil {
		c.stopSig = syscall.SIGTERM
	}
	if c.out.max <= 0 {
		c.out.max = 4096
	}
	if len(cfg.CPUs) > 0 {
		if ts, err := exec.LookPath("taskset"); err == nil {
			args = append([]string{"-c", cpuList(cfg.CPUs), path}, args...)
			path, c.Pinning = ts, "taskset"
		}
	}
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), cfg.Env...)
	if cfg.Stdin {
		w, err := cmd.StdinPipe()
		if err != nil {
			return nil, err
		}
		c.Stdin = w
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cfg.Path, err)
	}
	c.cmd, c.PID = cmd, cmd.Process.Pid
	if len(cfg.CPUs) > 0 && c.Pinning == "" {
		if err := Pin(c.PID, cfg.CPUs); err == nil {
			c.Pinning = "sched_setaffinity"
		}
	}
	ready := make(chan string, 1)
	var readers sync.WaitGroup
	readers.Add(2)
	go func() {
		defer readers.Done()
		c.read(stdout, cfg.Stdout, cfg.Ready, ready)
	}()
	go func() {
		defer readers.Done()
		c.read(stderr, cfg.Stderr, nil, nil)
	}()
	go func() {
		readers.Wait()
		c.err = cmd.Wait()
		close(c.done)
	}()
	if cfg.Ready == nil {
		return c, nil
	}
	return c, c.awaitReady(ctx, cfg, ready)
}

// read hands each line of r to line and keeps it in the output tail; the
// first line that matches re sends its last submatch on ready.
func (c *Child) read(r io.Reader, line func(string), re *regexp.Regexp, ready chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	sent := re == nil
	for sc.Scan() {
		text := sc.Text()
		c.out.add(text)
		if !sent {
			if m := re.FindStringSubmatch(text); m != nil {
				ready <- m[len(m)-1]
				sent = true
			}
		}
		if line != nil {
			line(text)
		}
	}
	_, _ = io.Copy(io.Discard, r) // a line longer than the buffer: drain
}

// awaitReady waits for the ready line; on failure it stops the child.
func (c *Child) awaitReady(ctx context.Context, cfg Config, ready <-chan string) error {
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
	case <-c.done:
		err = fmt.Errorf("%s exited before it was ready (%v): %s", cfg.Path, c.err, c.Output())
	case <-timer.C:
		err = fmt.Errorf("%s not ready within %v: %s", cfg.Path, wait, c.Output())
	case <-ctx.Done():
		err = fmt.Errorf("%s: waiting until ready: %w", cfg.Path, ctx.Err())
	}
	c.Close()
	return err
}

// Done is closed when the process has exited and its output is read.
func (c *Child) Done() <-chan struct{} { return c.done }

// Exited reports whether Done is closed.
func (c *Child) Exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Signal sends sig to the process.
func (c *Child) Signal(sig os.Signal) { _ = c.cmd.Process.Signal(sig) }

// Kill sends SIGKILL to the process without waiting for it.
func (c *Child) Kill() error { return c.cmd.Process.Kill() }

// Stop sends the stop signal, then SIGKILL when the process has not ended
// within grace, and waits until Done. It returns the process's error
// unless that is only a non-zero exit or death by a signal.
func (c *Child) Stop(grace time.Duration) error {
	select {
	case <-c.done:
	default:
		_ = c.cmd.Process.Signal(c.stopSig)
		t := time.NewTimer(grace)
		select {
		case <-c.done:
		case <-t.C:
			_ = c.cmd.Process.Kill()
			<-c.done
		}
		t.Stop()
	}
	var ee *exec.ExitError
	if c.err != nil && !errors.As(c.err, &ee) {
		return c.err
	}
	return nil
}

// Close is Stop with a grace of 5 s.
func (c *Child) Close() { _ = c.Stop(5 * time.Second) }

// ExitCode returns the exit code once Done is closed: -1 with the error
// when the process did not exit normally (killed by a signal, wait failed).
func (c *Child) ExitCode() (int, error) {
	<-c.done
	if c.err == nil {
		return 0, nil
	}
	var ee *exec.ExitError
	if errors.As(c.err, &ee) && ee.ExitCode() >= 0 {
		return ee.ExitCode(), nil
	}
	return -1, c.err
}

// Err is the process's wait error once Done is closed (nil: exit 0).
func (c *Child) Err() error {
	<-c.done
	return c.err
}

// Output returns the latest output lines of both streams (see
// Config.KeepOutput).
func (c *Child) Output() string { return c.out.String() }

// tail keeps the last max bytes of the lines added to it.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tail) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(append(t.buf, line...), '\n')
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = t.buf[over:]
	}
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}

// Pin pins every thread of pid to cpus.
func Pin(pid int, cpus []int) error {
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

// cpuList renders cpus as taskset's list, "0,2,3".
func cpuList(cpus []int) string {
	parts := make([]string, len(cpus))
	for i, c := range cpus {
		parts[i] = strconv.Itoa(c)
	}
	return strings.Join(parts, ",")
}
