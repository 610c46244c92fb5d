// Package redistest runs throw-away redis-server processes for tests: one
// process per Server, on a free loopback port, in the test's temporary
// directory, without persistence. Tests can kill, restart, pause and resume
// it to simulate outages. The process is killed when the test ends.
//
// Launch starts the same throw-away server outside tests, for `videochat
// bench signal --backend redis`: this package does not import "testing"
// (its helpers take the TB subset of TB), so the binary that links
// the bench does not link the testing package.
package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// TB is the part of TB this package uses; *testing.T and
// *testing.B satisfy it.
type TB interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Skip(args ...any)
	Cleanup(func())
	TempDir() string
}

// startTimeout bounds the wait for a new redis-server to answer PING. It is
// generous: the test machines are shared.
const startTimeout = 15 * time.Second

// missing is the message of a test that ends for want of redis-server.
const missing = "\n*** REDIS-SERVER NOT FOUND: the tests that need Redis did NOT run. ***\n" +
	"*** Install it: apt-get install -y redis-server ***"

// Server is one redis-server process owned by a test.
type Server struct {
	tb     TB
	path   string
	dir    string
	port   int
	cmd    *exec.Cmd     // nil while stopped
	exited chan struct{} // closed when cmd has exited
}

// Require returns the path of redis-server, or ends the test when there is
// none: t.Fatal when the environment variable CI is set (to anything but
// "false"), otherwise t.Skip with a loud message.
func Require(tb TB) string {
	tb.Helper()
	path, err := exec.LookPath("redis-server")
	if err == nil {
		return path
	}
	if ci := os.Getenv("CI"); ci != "" && ci != "false" {
		tb.Fatal(missing)
	}
	tb.Skip(missing)
	return ""
}

// Start starts a redis-server found by Require and waits until it answers
// PING. It is killed when the test ends.
func Start(tb TB) *Server {
	tb.Helper()
	return StartPath(tb, Require(tb))
}

// StartPath is Start with the redis-server binary at path, for callers
// with their own rule for a missing binary.
func StartPath(tb TB, path string) *Server {
	tb.Helper()
	s := &Server{tb: tb, path: path, dir: tb.TempDir(), port: FreePort(tb)}
	s.start()
	tb.Cleanup(s.Kill)
	return s
}

// Port is the server's TCP port on 127.0.0.1.
func (s *Server) Port() int { return s.port }

// Addr is the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL is the redis:// URL of the server's database 0.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Log returns what the server has written to its log so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.logPath())
	return string(b)
}

func (s *Server) logPath() string { return filepath.Join(s.dir, "redis.log") }

// Restart kills the server if it runs and starts it again on the same port,
// without data, waiting until it answers PING.
func (s *Server) Restart() {
	s.tb.Helper()
	s.Kill()
	s.start()
}

// Kill stops the server at once (SIGKILL, also when paused), losing its
// data, and waits for the process to exit. It does nothing when the server
// is not running.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGCONT)
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Pause freezes the server (SIGSTOP): connections stay open and nothing
// answers.
func (s *Server) Pause() { _ = s.cmd.Process.Signal(syscall.SIGSTOP) }

// Resume undoes Pause.
func (s *Server) Resume() { _ = s.cmd.Process.Signal(syscall.SIGCONT) }

// start runs redis-server on s.port and waits until it answers PING.
func (s *Server) start() {
	s.tb.Helper()
	log, err := os.OpenFile(s.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.tb.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command(s.path, Args(s.port, s.dir)...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		s.tb.Fatalf("start redis-server: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited
	s.waitPing()
}

// waitPing waits until the server answers PING, failing the test if it
// exits or stays silent for startTimeout.
func (s *Server) waitPing() {
	s.tb.Helper()
	if err := AwaitPing(context.Background(), s.Addr(), s.exited, startTimeout); err != nil {
		s.tb.Fatalf("redis-server on port %d: %v; log:\n%s", s.port, err, s.Log())
	}
}

// Args are the flags of a throw-away redis-server on 127.0.0.1:port,
// without persistence; dir is its working directory ("" keeps the
// current one).
func Args(port int, dir string) []string {
	args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"}
	if dir != "" {
		args = append(args, "--dir", dir)
	}
	return args
}

// AwaitPing polls the server at addr until it answers PING. It fails when
// exited is closed (the process ended), timeout passes or ctx ends.
func AwaitPing(ctx context.Context, addr string, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	poll := time.NewTicker(20 * time.Millisecond) // polling an external process
	defer poll.Stop()
	for !Pings(addr) {
		select {
		case <-exited:
			return errors.New("exited at start")
		case <-deadline.C:
			return fmt.Errorf("did not answer PING within %v", timeout)
		case <-ctx.Done():
			return ctx.Err()
		case <-poll.C:
		}
	}
	return nil
}

// Pings reports whether a Redis server at addr answers PING within a
// second.
func Pings(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && line == "+PONG\r\n"
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(tb TB) int {
	tb.Helper()
	port, err := freePort()
	if err != nil {
		tb.Fatal(err)
	}
	return port
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
