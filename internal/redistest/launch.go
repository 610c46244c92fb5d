package redistest

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"

	"github.com/videochat/videochat/internal/childproc"
)

// LaunchConfig describes a redis-server started by Launch.
type LaunchConfig struct {
	// CPUs, when set, pins the server to these CPUs (see childproc.Config).
	CPUs []int
	// MaxClients is redis-server's --maxclients (0 keeps its default).
	MaxClients int
}

// Launch starts a throw-away redis-server (Args) on a free loopback port
// outside a test and waits until it answers PING. It returns the process,
// which the caller stops, and the redis:// URL of its database 0.
func Launch(ctx context.Context, cfg LaunchConfig) (*childproc.Child, string, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, "", fmt.Errorf("redis backend: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	args := Args(port, "")
	if cfg.MaxClients > 0 {
		args = append(args, "--maxclients", strconv.Itoa(cfg.MaxClients))
	}
	c, err := childproc.Start(ctx, childproc.Config{Path: bin, Args: args, CPUs: cfg.CPUs})
	if err != nil {
		return nil, "", err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	if err := AwaitPing(ctx, addr, c.Done(), startTimeout); err != nil {
		c.Close()
		return nil, "", fmt.Errorf("redis-server: %w: %s", err, c.Output())
	}
	return c, "redis://" + addr + "/0", nil
}
