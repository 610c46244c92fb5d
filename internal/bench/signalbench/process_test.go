package signalbench

import (
	"context"
	"os/exec"
	"regexp"
	"testing"
	"time"
)

func TestStartChild(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	cpus, err := CPUs()
	if err != nil || len(cpus) == 0 {
		t.Fatalf("CPUs: %v %v", cpus, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := StartChild(ctx, ChildConfig{Path: sh, Args: []string{"-c", "echo starting; echo 'x: serving on http://127.0.0.1:9/ now'; exec sleep 60"},
		CPUs: cpus[:1], Ready: regexp.MustCompile(serverReady)})
	if err != nil {
		t.Fatal(err)
	}
	if c.Ready != "http://127.0.0.1:9" || c.Pinning == "" {
		t.Errorf("ready %q pinning %q", c.Ready, c.Pinning)
	}
	if rss, err := ProcRSS(c.PID); err != nil || rss <= 0 {
		t.Errorf("RSS %d, %v", rss, err)
	}
	if _, err := ProcCPU(c.PID); err != nil {
		t.Errorf("CPU: %v", err)
	}
	start := time.Now()
	c.Close()
	if !c.Exited() || time.Since(start) > 10*time.Second {
		t.Errorf("child not stopped promptly")
	}
}

func TestStartChildNotReady(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := StartChild(ctx, ChildConfig{Path: "sh", Args: []string{"-c", "echo oops >&2; exit 3"},
		Ready: regexp.MustCompile(serverReady)})
	if err == nil {
		t.Fatal("a child that exited was reported ready")
	}
}

func TestRaiseNoFile(t *testing.T) {
	got, err := RaiseNoFile(1024)
	if err != nil || got < 1024 {
		t.Errorf("RaiseNoFile(1024) = %d, %v", got, err)
	}
}
