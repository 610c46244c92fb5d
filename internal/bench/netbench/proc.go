package netbench

// proc.go: the processes of one measurement: videochat serve (and join,
// through internal/childproc), tc on the namespace's loopback, and CPU
// time of a process tree (internal/procstat).

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/videochat/videochat/internal/childproc"
)

// startServer runs `videochat serve` on loopback and returns it with its URL.
func startServer(ctx context.Context, bin string, args ...string) (*childproc.Child, string, error) {
	c, err := childproc.Start(ctx, childproc.Config{Path: bin,
		Args:  append([]string{"serve", "--addr", "127.0.0.1:0"}, args...),
		Ready: childproc.ServingOn, ReadyTimeout: time.Minute, StopSignal: syscall.SIGINT})
	if err != nil {
		return nil, "", err
	}
	return c, c.Ready, nil
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

var errNoChromium = errors.New("no Chromium: set $CHROMIUM or pass --chromium")
