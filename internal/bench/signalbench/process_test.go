package signalbench

import (
	"context"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/childproc"
)

// TestStartServer starts a child that prints the ready line (a shell, not
// videochat) and reads its memory and CPU through ProcRSS and ProcCPU.
func TestStartServer(t *testing.T) {
	cpus, err := childproc.CPUs()
	if err != nil || len(cpus) == 0 {
		t.Fatalf("CPUs: %v %v", cpus, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := StartServer(ctx, "sh", []string{"-c", `echo "serving on http://127.0.0.1:9/"; exec sleep 60`}, cpus[:1])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Ready != "http://127.0.0.1:9" || c.Pinning == "" {
		t.Errorf("ready %q pinning %q", c.Ready, c.Pinning)
	}
	if rss, err := ProcRSS(c.PID); err != nil || rss <= 0 {
		t.Errorf("RSS %d, %v", rss, err)
	}
	if _, err := ProcCPU(c.PID); err != nil {
		t.Errorf("CPU: %v", err)
	}
	if _, err := ProcRSS(1 << 30); err == nil {
		t.Error("ProcRSS of a missing pid: no error")
	}
}

func TestRaiseNoFile(t *testing.T) {
	got, err := RaiseNoFile(1024)
	if err != nil || got < 1024 {
		t.Errorf("RaiseNoFile(1024) = %d, %v", got, err)
	}
}
