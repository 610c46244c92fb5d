// Package redistest runs throw-away redis-server processes for tests: one
// process per Server, on a free loopback port, in the test's temporary
// directory, without persistence. Tests can kill, restart, pause and resume
// it to simulate outages. The process is killed when the test ends.
package redistest

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds the wait for a new redis-server to answer PING. It is
// generous: the test machines are shared.
const startTimeout = 15 * time.Second

// missing is the message of a test that ends for want of redis-server.
const missing = "\n*** REDIS-SERVER NOT FOUND: the tests that need Redis did NOT run. ***\n" +
	"*** Install it: apt-get install -y redis-server ***"

// Server is one redis-server process owned by a test.
type Server struct {
	tb     testing.TB
	path   string
	dir    string
	port   int
	cmd    *exec.Cmd     // nil while stopped
	exited chan struct{} // closed when cmd has exited
}

// Require returns the path of redis-server, or ends the test when there is
// none: t.Fatal when the environment variable CI is "true", otherwise t.Skip
// with a loud message.
func Require(tb testing.TB) string {
	tb.Helper()
	path, err := exec.LookPath("redis-server")
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		tb.Fatal(missing)
	}
	tb.Skip(missing)
	return ""
}

// Start starts a redis-server found by Require and waits until it answers
// PING. It is killed when the test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return StartPath(tb, Require(tb))
}

// StartPath is Start with the redis-server binary at path, for callers
// with their own rule for a missing binary.
func StartPath(tb testing.TB, path string) *Server {
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
	cmd := exec.Command(s.path, "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		s.tb.Fatalf("start redis-server: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited
	s.waitPing()
}

// waitPing polls the server until it answers PING, failing the test if it
// exits or stays silent for startTimeout.
func (s *Server) waitPing() {
	s.tb.Helper()
	deadline := time.Now().Add(startTimeout)
	for !Pings(s.Addr()) {
		select {
		case <-s.exited:
			s.tb.Fatalf("redis-server exited at start; log:\n%s", s.Log())
		default:
		}
		if time.Now().After(deadline) {
			s.tb.Fatalf("redis-server on port %d did not answer PING within %v", s.port, startTimeout)
		}
		time.Sleep(20 * time.Millisecond) // polling an external process
	}
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
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
