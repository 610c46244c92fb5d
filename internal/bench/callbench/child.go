package callbench

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/videochat/videochat/internal/childproc"
)

// nativeStats is the part of one `join --stats-json` line this package
// reads (peer.Snapshot's JSON schema).
type nativeStats struct {
	Peers []struct {
		Name  string `json:"name"`
		State string `json:"state"`
		Video struct {
			FramesReceived uint64  `json:"frames_received"`
			BytesReceived  uint64  `json:"bytes_received"`
			FPS            float64 `json:"fps"`
		} `json:"video"`
		BytesSent uint64 `json:"bytes_sent"`
		// EstimateBitrate is the sender's bandwidth estimate of the link
		// to this peer (video, bits/s; 0 unknown).
		EstimateBitrate int `json:"estimate_bitrate"`
	} `json:"peers"`
}

// counters sums a stats line over all remote peers.
func (s nativeStats) counters() counters {
	var c counters
	for _, p := range s.Peers {
		c.VideoBytesReceived += p.Video.BytesReceived
		c.FramesReceived += p.Video.FramesReceived
		c.BytesSent += p.BytesSent
		c.Peers++
		c.Estimates = append(c.Estimates, p.EstimateBitrate)
		if p.Video.FramesReceived > 0 {
			c.PeersReceiving++
		}
	}
	return c
}

// counters are a side's cumulative media counters at one moment.
type counters struct {
	At                 time.Time
	BytesSent          uint64 // all RTP sent, headers included
	VideoBytesReceived uint64 // video payload received
	FramesReceived     uint64
	Peers              int
	PeersReceiving     int
	SendCodec          string
	RecvCodec          string
	SendFPS            float64
	Encoder            string
	// Estimates are a native side's link estimates, one per remote peer
	// (bits/s; 0 unknown).
	Estimates []int `json:"-"`
}

// child is a videochat process (a childproc.Child). It records the lines
// of its standard error (slog text) that the benchmark waits for, and the
// latest --stats-json line of its standard output.
type child struct {
	name    string
	proc    *childproc.Child
	started time.Time

	mu         sync.Mutex
	tail       []string // last lines of stderr, for errors
	stats      counters
	haveStats  bool
	joined     chan struct{}
	firstVideo chan struct{}
	videoAt    time.Time
}

var timeRE = regexp.MustCompile(`(?:^|\s)time=(\S+)`)

// startChild runs bin with args; ready, when set, is the stdout line to
// wait for (childproc.Config.Ready). stop ends the process.
func startChild(ctx context.Context, bin, name string, ready *regexp.Regexp, args ...string) (*child, error) {
	c := &child{name: name, joined: make(chan struct{}), firstVideo: make(chan struct{}), started: time.Now()}
	p, err := childproc.Start(ctx, childproc.Config{Path: bin, Args: args, StopSignal: syscall.SIGINT,
		Stdout: c.stdoutLine, Stderr: func(line string) { c.stderrLine(line, time.Now()) }, Ready: ready})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	c.proc = p
	return c, nil
}

func (c *child) pid() int { return c.proc.PID }

// stdoutLine keeps the latest --stats-json line.
func (c *child) stdoutLine(line string) {
	var s nativeStats
	if len(line) == 0 || line[0] != '{' || json.Unmarshal([]byte(line), &s) != nil {
		return
	}
	cs := s.counters()
	cs.At = time.Now()
	c.mu.Lock()
	c.stats, c.haveStats = cs, true
	c.mu.Unlock()
}

// stderrLine notes the events of one log line received at now.
func (c *child) stderrLine(line string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tail = append(c.tail, line)
	if len(c.tail) > 40 {
		c.tail = c.tail[1:]
	}
	switch {
	case strings.Contains(line, "msg=joined"):
		closeOnce(c.joined)
	case strings.Contains(line, `msg="remote track"`) && strings.Contains(line, "kind=video"):
		if !isClosed(c.firstVideo) {
			c.videoAt = logTime(line, now)
			close(c.firstVideo)
		}
	}
}

// logTime returns the time= field of a slog text line, or fallback.
func logTime(line string, fallback time.Time) time.Time {
	m := timeRE.FindStringSubmatch(line)
	if m == nil {
		return fallback
	}
	t, err := time.Parse(time.RFC3339Nano, m[1])
	if err != nil {
		return fallback
	}
	return t
}

func closeOnce(ch chan struct{}) {
	if !isClosed(ch) {
		close(ch)
	}
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// counters returns the latest stats line, ok=false before the first one.
func (c *child) counters() (counters, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats, c.haveStats
}

// waitEvent waits for ch, the process's end or ctx.
func (c *child) waitEvent(ctx context.Context, ch <-chan struct{}, what string) error {
	select {
	case <-ch:
		return nil
	case <-c.proc.Done():
		return fmt.Errorf("%s exited before %s: %v\n%s", c.name, what, c.proc.Err(), c.lastLines())
	case <-ctx.Done():
		return fmt.Errorf("%s: waiting for %s: %w\n%s", c.name, what, ctx.Err(), c.lastLines())
	}
}

// waitStats polls the stats lines until ok accepts one.
func (c *child) waitStats(ctx context.Context, what string, ok func(counters) bool) error {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		if s, have := c.counters(); have && ok(s) {
			return nil
		}
		select {
		case <-t.C:
		case <-c.proc.Done():
			return fmt.Errorf("%s exited before %s: %v\n%s", c.name, what, c.proc.Err(), c.lastLines())
		case <-ctx.Done():
			return fmt.Errorf("%s: waiting for %s: %w\n%s", c.name, what, ctx.Err(), c.lastLines())
		}
	}
}

func (c *child) lastLines() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.tail, "\n")
}

// stop interrupts the process, kills it after grace, and waits for it.
func (c *child) stop(grace time.Duration) error { return c.proc.Stop(grace) }

// startServer runs `videochat serve` on a free loopback port and returns
// it with its base URL.
func startServer(ctx context.Context, bin string) (*child, string, error) {
	c, err := startChild(ctx, bin, "server", childproc.ServingOn, "serve", "--addr", "127.0.0.1:0", "--max-peers", "16", "--log-level", "warn")
	if err != nil {
		return nil, "", err
	}
	return c, c.proc.Ready, nil
}

// joinArgs are the flags of a native peer on loopback with per-second
// stats on standard output and info logs (joined, remote track) on
// standard error.
func joinArgs(server, room, name, video, audio string, extra ...string) []string {
	return append([]string{"join", "--server", server, "--room", room, "--name", name,
		"--video", video, "--audio", audio, "--ice-interface", "lo", "--mdns=false",
		"--stats-json", "-", "--log-level", "info"}, extra...)
}
