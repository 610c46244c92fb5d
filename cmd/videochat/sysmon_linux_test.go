package main

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// sysmonChildEnv makes TestSysmonReexecChild the child process of
// TestSysmonReexec instead of a test that skips.
const sysmonChildEnv = "VIDEOCHAT_SYSMON_TEST_CHILD"

// TestSysmonReexecChild is the process TestSysmonReexec starts: it prints
// "start" (once per process image), calls keepSysmonAwake, and, in the
// process that goes on, prints its pid, GODEBUG, arguments and stdin.
func TestSysmonReexecChild(t *testing.T) {
	if os.Getenv(sysmonChildEnv) == "" {
		t.Skip("the child of TestSysmonReexec")
	}
	fmt.Printf("start pid=%d\n", os.Getpid())
	keepSysmonAwake(slog.New(slog.NewTextHandler(io.Discard, nil)))
	in, _ := io.ReadAll(os.Stdin)
	fmt.Printf("pid=%d\nGODEBUG=%s\nargs=%q\nstdin=%s\nextra=%s\n", os.Getpid(), os.Getenv("GODEBUG"), os.Args, in, os.Getenv("VIDEOCHAT_SYSMON_TEST_EXTRA"))
	os.Exit(0)
}

func TestSysmonReexec(t *testing.T) {
	run := func(t *testing.T, godebug string) (string, []string) {
		t.Helper()
		args := []string{"-test.run", "^TestSysmonReexecChild$", "-test.count", "1"}
		cmd := exec.Command(os.Args[0], args...)
		cmd.Env = append(withEnv(withEnv(os.Environ(), "GODEBUG", godebug), sysmonChildEnv, "1"), "VIDEOCHAT_SYSMON_TEST_EXTRA=kept")
		cmd.Stdin = strings.NewReader("chat line from stdin")
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("child: %v\n%s%s", err, out.String(), errb.String())
		}
		if errb.Len() != 0 { // nothing printed by the runtime's trace
			t.Errorf("child wrote to stderr: %q", errb.String())
		}
		if !strings.Contains(out.String(), "stdin=chat line from stdin\n") || !strings.Contains(out.String(), "extra=kept\n") ||
			!strings.Contains(out.String(), fmt.Sprintf("args=%q\n", append([]string{os.Args[0]}, args...))) {
			t.Errorf("child lost its stdin, environment or arguments:\n%s", out.String())
		}
		var starts []string
		for _, l := range strings.Split(out.String(), "\n") {
			if strings.HasPrefix(l, "start ") {
				starts = append(starts, strings.TrimPrefix(l, "start "))
			}
		}
		return out.String(), starts
	}
	t.Run("once, same pid, user GODEBUG kept", func(t *testing.T) {
		out, starts := run(t, "madvdontneed=1")
		if len(starts) != 2 || starts[0] != starts[1] {
			t.Fatalf("want one re-exec in the same process (two starts, one pid), got %q:\n%s", starts, out)
		}
		if !strings.Contains(out, "GODEBUG=madvdontneed=1,schedtrace=2147483647\n") {
			t.Errorf("GODEBUG not extended:\n%s", out)
		}
	})
	t.Run("schedtrace set by the user: no re-exec", func(t *testing.T) {
		out, starts := run(t, "schedtrace=0")
		if len(starts) != 1 || !strings.Contains(out, "GODEBUG=schedtrace=0\n") {
			t.Fatalf("want no re-exec and GODEBUG as given, got starts %q:\n%s", starts, out)
		}
	})
}

func TestSysmonGODEBUG(t *testing.T) {
	day := 24 * time.Hour
	for _, c := range []struct {
		cur    string
		uptime time.Duration
		want   string
		ok     bool
	}{
		{"", day, "schedtrace=2147483647", true},
		{"madvdontneed=1,gctrace=0", day, "madvdontneed=1,gctrace=0,schedtrace=2147483647", true},
		{"schedtrace=1000", day, "", false},
		{"gctrace=1, schedtrace=0", day, "", false},
		{"", 17 * day, "schedtrace=2147483647", true},
		{"", 18 * day, "", false}, // 2^31−1 ms ≈ 24.86 days, minus a week
	} {
		got, ok := sysmonGODEBUG(c.cur, c.uptime)
		if got != c.want || ok != c.ok {
			t.Errorf("sysmonGODEBUG(%q, %v) = %q, %v; want %q, %v", c.cur, c.uptime, got, ok, c.want, c.ok)
		}
	}
	env := withEnv([]string{"A=1", "GODEBUG=x=1", "B=2"}, "GODEBUG", "x=1,y=2")
	if strings.Join(env, " ") != "A=1 GODEBUG=x=1,y=2 B=2" {
		t.Errorf("withEnv: %q", env)
	}
}
