package netbench

// together.go: the senders of a profile measured at the same time, so that
// they face the same machine load (Run measures them one after the other,
// and a load that changes by 2× within a run then decides the comparison).
//
// Each sender is measured by a worker: a process of its own, in a network
// namespace of its own (the caller's Spawn puts it there, e.g. under
// `unshare -rn`), with its own server, impairment (shaped "lo" or
// impairing relay) and Chromium receiver: runOne, exactly as in Run.
//
// Invariants:
//   - no worker's impairment starts before every worker of the profile has
//     connected and settled (reported ready); then all are told to go at
//     once, so their warm-up, window and lift of the limit coincide (to the
//     few milliseconds a pipe write takes);
//   - a worker that fails or ends before it is ready fails the profile,
//     and the others are stopped (their context is cancelled);
//   - the wire between the two ends is one place (this file): the worker
//     writes "ready\n" on its stdout and waits for a line on its stdin,
//     then writes its Row as one JSON line and ends.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/videochat/videochat/internal/procstat"
)

// Worker is one sender measured in a process of its own.
type Worker interface {
	Ready() <-chan struct{} // closed once connected and waiting for Go
	Done() <-chan struct{}  // closed once the worker ended
	Go()                    // opens its profile (impairment, warm-up, window)
	Result() (Row, error)   // after Done
}

// Spawn starts the worker of one profile × sender; ctx ends it.
type Spawn func(ctx context.Context, profile, sender string) (Worker, error)

// ModeTogether and ModeSequential name Report.Mode.
const (
	ModeTogether   = "together: the senders at the same time, each in its own network namespace with its own receiver"
	ModeSequential = "one after the other: each sender alone, in one network namespace"
)

// RunTogether measures, per profile, every sender at the same time, each
// in a worker spawn starts.
func RunTogether(ctx context.Context, cfg Config, spawn Spawn) (*Report, error) {
	cfg = cfg.withDefaults()
	if err := cfg.check(); err != nil {
		return nil, err
	}
	rep := newReport(cfg, ModeTogether)
	for _, prof := range cfg.Profiles {
		cfg.Logger.Info("measuring together", "profile", prof, "senders", cfg.Senders)
		rows, err := together(ctx, prof, cfg.Senders, spawn)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", prof, err)
		}
		for _, r := range rows {
			cfg.Logger.Info("measured", "row", fmt.Sprintf("%+v", r))
		}
		rep.Rows = append(rep.Rows, rows...)
	}
	rep.Load = loadNow()
	return rep, nil
}

// together runs one profile's workers: all ready, then all go, then all
// results, in the order of senders.
func together(ctx context.Context, prof string, senders []string, spawn Spawn) ([]Row, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ws := make([]Worker, 0, len(senders))
	defer func() { // on failure: stop the rest and wait for them
		cancel()
		for _, w := range ws {
			<-w.Done()
		}
	}()
	for _, s := range senders {
		w, err := spawn(ctx, prof, s)
		if err != nil {
			return nil, fmt.Errorf("%s sender: %w", s, err)
		}
		ws = append(ws, w)
	}
	// All ready, in whatever order; the first to end before it is
	// ready fails the profile.
	type state struct {
		i     int
		ready bool
	}
	states := make(chan state, len(ws))
	for i, w := range ws {
		go func() { // ends with the worker at the latest (Done)
			select {
			case <-w.Ready():
				states <- state{i, true}
			case <-w.Done():
				states <- state{i, false}
			}
		}()
	}
	for range ws {
		var st state
		select {
		case st = <-states:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if !st.ready {
			_, err := ws[st.i].Result()
			return nil, fmt.Errorf("%s sender ended before it was ready: %w", senders[st.i], orEnded(err))
		}
	}
	for _, w := range ws {
		w.Go()
	}
	rows := make([]Row, len(ws))
	for i, w := range ws {
		select {
		case <-w.Done():
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		r, err := w.Result()
		if err != nil {
			return nil, fmt.Errorf("%s sender: %w", senders[i], err)
		}
		rows[i] = r
	}
	return rows, nil
}

func orEnded(err error) error {
	if err == nil {
		return errors.New("no error, no result")
	}
	return err
}

// ServeWorker is the worker's end: it measures one profile × sender in
// this process's network namespace, saying "ready" on out and waiting for
// a line on in before the impairment starts, and writes the Row as one
// JSON line on out.
func ServeWorker(ctx context.Context, cfg Config, profile, sender string, in io.Reader, out io.Writer) error {
	cfg.Profiles, cfg.Senders = []string{profile}, []string{sender}
	cfg = cfg.withDefaults()
	if err := cfg.check(); err != nil {
		return err
	}
	cfg.barrier = lineBarrier(in, out)
	return withClip(ctx, &cfg, func(dir string) error {
		row, err := runOne(ctx, cfg, dir, profile, sender)
		if err != nil {
			return err
		}
		return json.NewEncoder(out).Encode(row)
	})
}

// lineBarrier is the worker's side of the wait: "ready" on out, then a
// line on in (or ctx's end).
func lineBarrier(in io.Reader, out io.Writer) func(context.Context) error {
	return func(ctx context.Context) error {
		if _, err := io.WriteString(out, "ready\n"); err != nil {
			return err
		}
		got := make(chan error, 1)
		go func() { // ends with in (the parent's pipe, closed by Go or at the parent's exit)
			_, err := bufio.NewReader(in).ReadString('\n')
			got <- err
		}()
		select {
		case err := <-got:
			if err != nil {
				return fmt.Errorf("waiting for go: %w", err)
			}
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// procWorker is a Worker in a child process that speaks ServeWorker's wire.
type procWorker struct {
	cmd   *exec.Cmd
	goW   io.WriteCloser
	ready chan struct{}
	done  chan struct{}
	row   Row
	err   error
	once  sync.Once
}

// StartProcess starts argv as a worker (argv[0] a path or a name in PATH,
// env added to this process's); its stderr is passed through. ctx's end
// sends it SIGINT, then SIGKILL 30 s later.
func StartProcess(ctx context.Context, argv []string, env []string) (Worker, error) {
	c := exec.CommandContext(ctx, argv[0], argv[1:]...)
	c.Env = append(os.Environ(), env...)
	c.Stderr = os.Stderr
	c.Cancel = func() error { return c.Process.Signal(syscall.SIGINT) }
	c.WaitDelay = 30 * time.Second
	stdin, err := c.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := c.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := c.Start(); err != nil {
		return nil, err
	}
	w := &procWorker{cmd: c, goW: stdin, ready: make(chan struct{}), done: make(chan struct{})}
	go w.read(stdout) // ends when the process ends (its stdout closes)
	return w, nil
}

// read follows the worker's stdout: "ready", then one JSON Row; then it
// waits for the process.
func (w *procWorker) read(stdout io.Reader) {
	defer close(w.done)
	sc := bufio.NewScanner(stdout)
	var rowErr error = errors.New("no result line")
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "ready":
			w.once.Do(func() { close(w.ready) })
		case strings.HasPrefix(line, "{"):
			var r Row
			if rowErr = json.Unmarshal([]byte(line), &r); rowErr == nil {
				w.row = r
			}
		}
	}
	err := w.cmd.Wait()
	switch {
	case err != nil:
		w.err = fmt.Errorf("worker %s: %w", w.cmd.Args, err)
	case rowErr != nil:
		w.err = fmt.Errorf("worker %s: %w", w.cmd.Args, rowErr)
	}
}

func (w *procWorker) Ready() <-chan struct{} { return w.ready }
func (w *procWorker) Done() <-chan struct{}  { return w.done }
func (w *procWorker) Go()                    { _, _ = io.WriteString(w.goW, "go\n"); _ = w.goW.Close() }
func (w *procWorker) Result() (Row, error)   { return w.row, w.err }

// loadNow is the 1, 5 and 15 minute load averages, as text ("" unknown).
func loadNow() string {
	if l := (procstat.FS{}).LoadAvg(); l != ([3]float64{}) {
		return fmt.Sprintf("%.2f %.2f %.2f", l[0], l[1], l[2])
	}
	return ""
}
