package redisbackend

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// redisServer is a redis-server process on a loopback port, owned by a test.
type redisServer struct {
	t      testing.TB
	path   string
	dir    string
	port   int
	cmd    *exec.Cmd
	exited chan struct{}
}

// startRedis starts a throw-away redis-server (no persistence) and stops it
// when the test ends. Without redis-server the test is skipped, or fails
// when CI=true.
func startRedis(t testing.TB) *redisServer {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server is required with CI=true: %v", err)
		}
		t.Skip("SKIPPING: redis-server is not installed, the Redis backend is NOT tested (apt-get install redis-server)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	s := &redisServer{t: t, path: path, dir: t.TempDir(), port: port}
	s.start()
	t.Cleanup(s.kill)
	return s
}

func (s *redisServer) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", s.port) }

// start runs redis-server and waits until it answers PING.
func (s *redisServer) start() {
	s.t.Helper()
	log, err := os.OpenFile(filepath.Join(s.dir, "redis.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.t.Fatal(err)
	}
	defer log.Close()
	s.cmd = exec.Command(s.path, "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir)
	s.cmd.Stdout, s.cmd.Stderr = log, log
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	exited := make(chan struct{})
	s.exited = exited
	go func(c *exec.Cmd) { _ = c.Wait(); close(exited) }(s.cmd)
	deadline := time.Now().Add(10 * time.Second)
	for !s.pings() {
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on port %d did not answer within 10 s", s.port)
		}
		time.Sleep(20 * time.Millisecond) // polling for an external process
	}
}

// pings reports whether the server answers PING.
func (s *redisServer) pings() bool {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.port), time.Second)
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

// kill stops the server at once (SIGKILL), losing its data.
func (s *redisServer) kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGCONT)
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// pause freezes the server (SIGSTOP): connections stay open, nothing answers.
func (s *redisServer) pause() { _ = s.cmd.Process.Signal(syscall.SIGSTOP) }

// resume undoes pause.
func (s *redisServer) resume() { _ = s.cmd.Process.Signal(syscall.SIGCONT) }
