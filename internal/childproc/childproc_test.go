package childproc

import (
	"context"
	"io"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestStartReadyAndPinned(t *testing.T) {
	cpus, err := CPUs()
	if err != nil || len(cpus) == 0 {
		t.Fatalf("CPUs: %v %v", cpus, err)
	}
	c, err := Start(ctx(t), Config{Path: "sh", Args: []string{"-c", "echo starting; echo 'x: serving on http://127.0.0.1:9/ now'; exec sleep 60"},
		CPUs: cpus[:1], Ready: ServingOn})
	if err != nil {
		t.Fatal(err)
	}
	if c.Ready != "http://127.0.0.1:9" || c.Pinning == "" {
		t.Errorf("ready %q pinning %q", c.Ready, c.Pinning)
	}
	start := time.Now()
	c.Close()
	if !c.Exited() || time.Since(start) > 10*time.Second {
		t.Errorf("child not stopped promptly")
	}
}

func TestServingOnTLS(t *testing.T) {
	m := ServingOn.FindStringSubmatch("videochat: serving on https://127.0.0.1:8443/ — open …")
	if m == nil || m[1] != "https://127.0.0.1:8443" {
		t.Fatalf("match %q", m)
	}
}

func TestNotReady(t *testing.T) {
	_, err := Start(ctx(t), Config{Path: "sh", Args: []string{"-c", "echo oops >&2; exit 3"}, Ready: ServingOn})
	if err == nil || !strings.Contains(err.Error(), "oops") {
		t.Fatalf("err = %v, want an error with the child's output", err)
	}
	_, err = Start(ctx(t), Config{Path: "sleep", Args: []string{"60"}, Ready: ServingOn, ReadyTimeout: 200 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "not ready within") {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if _, err := Start(ctx(t), Config{Path: "/nonexistent/program"}); err == nil {
		t.Fatal("a missing program started")
	}
}

// TestLinesAndExit checks that every line reaches its callback before
// Done, stdin reaches the child, and the exit code comes back.
func TestLinesAndExit(t *testing.T) {
	var mu sync.Mutex
	var out, errs []string
	c, err := Start(ctx(t), Config{Path: "sh", Args: []string{"-c", "read x; echo got $x; echo warn >&2; exit 7"}, Stdin: true,
		Stdout: func(l string) { mu.Lock(); out = append(out, l); mu.Unlock() },
		Stderr: func(l string) { mu.Lock(); errs = append(errs, l); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c.Stdin, "hello\n"); err != nil {
		t.Fatal(err)
	}
	code, err := c.ExitCode()
	if code != 7 || err != nil {
		t.Fatalf("ExitCode = %d, %v; want 7", code, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(out, "|") != "got hello" || strings.Join(errs, "|") != "warn" {
		t.Fatalf("stdout %q stderr %q", out, errs)
	}
	if o := c.Output(); !strings.Contains(o, "got hello") || !strings.Contains(o, "warn") {
		t.Fatalf("Output = %q", o)
	}
	if err := c.Stop(time.Second); err != nil {
		t.Fatalf("Stop after exit: %v", err)
	}
}

// TestStopSignal checks that Stop sends the configured signal first and
// kills a child that ignores it.
func TestStopSignal(t *testing.T) {
	c, err := Start(ctx(t), Config{Path: "sh", Args: []string{"-c", "trap 'echo int; exit 0' INT; echo up; while :; do sleep 0.1; done"},
		Ready: regexp.MustCompile("^(up)$"), StopSignal: syscall.SIGINT})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if code, _ := c.ExitCode(); code != 0 || !strings.Contains(c.Output(), "int") {
		t.Fatalf("exit %d, output %q: the trap did not run", code, c.Output())
	}
	deaf, err := Start(ctx(t), Config{Path: "sh", Args: []string{"-c", "trap '' TERM; echo up; while :; do sleep 0.1; done"}, Ready: regexp.MustCompile("^(up)$")})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := deaf.Stop(300 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if code, err := deaf.ExitCode(); code != -1 || err == nil {
		t.Fatalf("a killed child: ExitCode = %d, %v; want -1 and an error", code, err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("Stop did not kill a child that ignores SIGTERM")
	}
}
