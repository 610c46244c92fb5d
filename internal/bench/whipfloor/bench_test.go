package whipfloor

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/testbin"
	"github.com/videochat/videochat/peer"
)

// variants are the forwarder shapes the benchmark knows (floor.go).
var variants = map[string]struct {
	read, write string
	handoffs    int
	env         string
	noRead      bool // the sink does not read (Sink)
}{
	"floor":          {"block", "block", 0, "", false}, // one goroutine, blocking syscalls
	"floor-P1":       {"block", "block", 0, "GOMAXPROCS=1", false},
	"netpoll":        {"netpoll", "block", 0, "", false}, // the server's sockets: netpoller reads, quiet writes
	"chain3":         {"netpoll", "block", 3, "", false}, // + pion's three goroutine hand-offs
	"chain3-P1":      {"netpoll", "block", 3, "GOMAXPROCS=1", false},
	"mmsg":           {"block", "mmsg", 0, "", false},      // the floor with one sendmmsg per packet
	"std":            {"netpoll", "netpoll", 0, "", false}, // plain *net.UDPConn both ways
	"netpoll-mmsg":   {"netpoll", "mmsg", 0, "", false},
	"netpoll-P1":     {"netpoll", "block", 0, "GOMAXPROCS=1", false},
	"netpoll-noread": {"netpoll", "block", 0, "", true}, // nobody reads at the receivers
}

// BenchmarkWHIPFloor runs, at the same time and for the same window, the
// real WHIP path (`videochat serve --whip`, N native room receivers and a
// `join --whip --video test --audio test` publisher that encodes VP8
// 640×480 30 fps ~1 Mbps + Opus, as scripts/whip-forward-cpu.sh) and one
// forwarder shape of floor.go fed by the same kind of stream (a 1 Mbps
// 640×480 30 fps VP8 clip + 50 audio packets/s, SRTP, over loopback), and
// reports for both the CPU per received datagram and the ratio to the
// encoding publisher's CPU. CPU and datagrams come from `perf stat -p`
// (task-clock; successful recvmsg/recvfrom), so it needs root or
// perf_event_paranoid ≤ 1.
//
//	go test ./internal/bench/whipfloor -run '^$' -bench WHIPFloor -benchtime 1x
//
// Environment: WHIPFLOOR_N (receivers, default "1,4,7"), WHIPFLOOR_VARIANTS
// (default "netpoll,chain3,netpoll-noread,floor,chain3-P1"), WHIPFLOOR_WINDOW
// (default 15s), WHIPFLOOR_BIN (a prebuilt videochat; default: built
// here), WHIPFLOOR_CLIP (an IVF VP8 clip; default: made with ffmpeg),
// WHIPFLOOR_SERVE_ENV (e.g. GOMAXPROCS=1 for the server).
func BenchmarkWHIPFloor(b *testing.B) {
	if _, err := exec.LookPath("perf"); err != nil {
		b.Fatal("perf is needed:", err)
	}
	bin := os.Getenv("WHIPFLOOR_BIN")
	if bin == "" {
		bin = testbin.ForTest(b, "whipfloor-", "")
	}
	clip := os.Getenv("WHIPFLOOR_CLIP")
	if clip == "" {
		clip = filepath.Join(b.TempDir(), "clip.ivf")
		out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=640x480:rate=30", "-t", "10",
			"-c:v", "libvpx", "-b:v", "1M", "-deadline", "realtime", "-cpu-used", "8", "-g", "300", clip).CombinedOutput()
		if err != nil {
			b.Fatalf("ffmpeg: %v\n%s", err, out)
		}
	}
	window := 15 * time.Second
	if s := os.Getenv("WHIPFLOOR_WINDOW"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			b.Fatal(err)
		}
		window = d
	}
	ns := strings.Split(envOr("WHIPFLOOR_N", "1,4,7"), ",")
	names := strings.Split(envOr("WHIPFLOOR_VARIANTS", "netpoll,chain3,netpoll-noread,floor,chain3-P1"), ",")
	for _, ns := range ns {
		n, err := strconv.Atoi(ns)
		if err != nil || n < 1 {
			b.Fatalf("WHIPFLOOR_N: %q", ns)
		}
		for _, name := range names {
			v, ok := variants[name]
			if !ok {
				b.Fatalf("unknown variant %q", name)
			}
			if v.write == "mmsg" && n == 1 {
				continue
			}
			b.Run(fmt.Sprintf("rx%d/%s", n, name), func(b *testing.B) {
				var kids []*child
				defer func() { stopAll(kids) }()
				real, enc, stats := startReal(b, bin, n, &kids)
				fwd := startFloor(b, clip, n, v.read, v.write, v.handoffs, v.env, v.noRead, &kids)
				time.Sleep(8 * time.Second)
				load := loadavg()
				r0, _ := peer.LastSnapshot(stats)
				var srv, pub, flr perfStat
				var wg sync.WaitGroup
				errs := make([]error, 3)
				for i, m := range []struct {
					pid int
					to  *perfStat
				}{{real.pid(), &srv}, {enc.pid(), &pub}, {fwd.pid(), &flr}} {
					wg.Add(1)
					go func() { defer wg.Done(); *m.to, errs[i] = measure(m.pid, window, b.TempDir()) }()
				}
				wg.Wait()
				for _, err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
				r1, err := peer.LastSnapshot(stats)
				if err != nil || len(r1.Peers) == 0 || len(r0.Peers) == 0 {
					b.Fatalf("the measured receiver has no stats: %v", err)
				}
				for _, c := range kids {
					if c.exited() {
						b.Fatalf("%s exited during the window:\n%s", c.name, c.output())
					}
				}
				kbps := float64(r1.Peers[0].Video.BytesReceived-r0.Peers[0].Video.BytesReceived) * 8 / 1000 / r1.Time.Sub(r0.Time).Seconds()
				w := window.Seconds()
				encCores := pub.cpu.Seconds() / w
				report := func(tag string, s perfStat) {
					cores := s.cpu.Seconds() / w
					b.ReportMetric(cores, tag+"-cores")
					b.ReportMetric(float64(s.rx)/w, tag+"-rx/s")
					if s.rx > 0 {
						b.ReportMetric(float64(s.cpu.Microseconds())/float64(s.rx), tag+"-µs/rx")
						b.ReportMetric(float64(s.cs)/float64(s.rx), tag+"-cs/rx")
					}
					if encCores > 0 {
						b.ReportMetric(cores/encCores, tag+"/encoder")
					}
				}
				report("server", srv)
				report("floor", flr)
				b.ReportMetric(encCores, "encoder-cores")
				b.ReportMetric(kbps, "rx-video-kbps")
				b.ReportMetric(load, "load")
			})
		}
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// startReal starts serve --whip, n receivers (the last with --stats-json,
// whose path it returns) and the encoding publisher.
func startReal(b *testing.B, bin string, n int, kids *[]*child) (srv, pub *child, stats string) {
	port := freePort(b)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	var env []string
	if e := os.Getenv("WHIPFLOOR_SERVE_ENV"); e != "" {
		env = strings.Fields(e)
	}
	srv = start(b, kids, "serve", env, bin, "serve", "--addr", fmt.Sprintf("127.0.0.1:%d", port), "--log-level", "warn", "--whip", "--max-peers", "16")
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("serve does not listen:\n%s", srv.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	netArgs := []string{"--ice-interface", "lo", "--mdns=false", "--log-level", "error"}
	stats = filepath.Join(b.TempDir(), "rx.jsonl")
	for i := range n {
		args := []string{"join", "--server", url, "--room", "r", "--name", fmt.Sprintf("rx%d", i), "--video", "none", "--audio", "none"}
		if i == n-1 {
			args = append(args, "--stats-json", stats)
		}
		start(b, kids, fmt.Sprintf("rx%d", i), nil, bin, append(args, netArgs...)...)
	}
	pub = start(b, kids, "publisher", nil, bin, append([]string{"join", "--whip", url + "/whip/r?name=pub", "--video", "test", "--audio", "test"}, netArgs...)...)
	return srv, pub, stats
}

// startFloor starts a sink of n sockets, the forwarder and the sender, and
// returns the forwarder.
func startFloor(b *testing.B, clip string, n int, read, write string, handoffs int, env string, noRead bool, kids *[]*child) *child {
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	// One sink process per receiver, as the real receivers are processes:
	// a datagram then wakes a process of its own, as in the real scenario.
	var rxs []string
	for range n {
		senv := []string{roleEnv + "=sink", "WHIPFLOOR_N=1"}
		if noRead {
			senv = append(senv, "WHIPFLOOR_SINK_READ=0")
		}
		rxs = append(rxs, start(b, kids, "sink", senv, self).addr(b))
	}
	rx := strings.Join(rxs, ",")
	fenv := []string{roleEnv + "=forward", "WHIPFLOOR_READ=" + read, "WHIPFLOOR_WRITE=" + write,
		"WHIPFLOOR_HANDOFFS=" + strconv.Itoa(handoffs), "WHIPFLOOR_RX=" + rx}
	if env != "" {
		fenv = append(fenv, env)
	}
	fwd := start(b, kids, "forward", fenv, self)
	at := fwd.addr(b)
	start(b, kids, "send", []string{roleEnv + "=send", "WHIPFLOOR_CLIP=" + clip, "WHIPFLOOR_TO=" + at}, self)
	return fwd
}

func freePort(b *testing.B) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func loadavg() float64 {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f, _ := strconv.ParseFloat(strings.Fields(string(raw))[0], 64)
	return f
}

// perfStat is what `perf stat -p` counted over a window.
type perfStat struct {
	cpu time.Duration
	cs  uint64
	rx  uint64 // successful recvmsg and recvfrom calls: datagrams received
}

func measure(pid int, window time.Duration, dir string) (perfStat, error) {
	out := filepath.Join(dir, fmt.Sprintf("perf-%d", pid))
	cmd := exec.Command("perf", "stat", "-x,", "-o", out, "-p", strconv.Itoa(pid), "-e", "task-clock,context-switches",
		"-e", "syscalls:sys_exit_recvmsg", "--filter", "ret > 0", "-e", "syscalls:sys_exit_recvfrom", "--filter", "ret > 0",
		"--", "sleep", fmt.Sprint(window.Seconds()))
	if o, err := cmd.CombinedOutput(); err != nil {
		return perfStat{}, fmt.Errorf("perf stat: %v\n%s", err, o)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		return perfStat{}, err
	}
	var s perfStat
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Split(line, ",")
		if len(f) < 3 || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		switch {
		case f[2] == "task-clock":
			s.cpu = time.Duration(v * float64(time.Millisecond))
		case f[2] == "context-switches":
			s.cs = uint64(v)
		case strings.HasPrefix(f[2], "syscalls:sys_exit_recv"):
			s.rx += uint64(v)
		}
	}
	return s, nil
}

// child is a process of the benchmark.
type child struct {
	name string
	cmd  *exec.Cmd
	out  *lockedBuffer
	line chan string // the first stdout line of a role
	done chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (c *child) output() string {
	c.out.mu.Lock()
	defer c.out.mu.Unlock()
	return c.out.b.String()
}

func (c *child) pid() int { return c.cmd.Process.Pid }

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// addr waits for a role's "addr A" line.
func (c *child) addr(b *testing.B) string {
	select {
	case l := <-c.line:
		a, ok := strings.CutPrefix(l, "addr ")
		if !ok {
			b.Fatalf("%s: %q", c.name, l)
		}
		return a
	case <-time.After(10 * time.Second):
		b.Fatalf("%s not ready:\n%s", c.name, c.output())
		return ""
	}
}

func start(b *testing.B, kids *[]*child, name string, env []string, bin string, args ...string) *child {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	c := &child{name: name, cmd: cmd, out: &lockedBuffer{}, line: make(chan string, 1), done: make(chan struct{})}
	cmd.Stderr = c.out
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	*kids = append(*kids, c)
	go func() {
		sc := bufio.NewScanner(pr)
		first := true
		for sc.Scan() {
			if first {
				c.line <- sc.Text()
				first = false
			}
			fmt.Fprintln(c.out, sc.Text())
		}
		io.Copy(io.Discard, pr)
	}()
	go func() {
		cmd.Wait()
		pw.Close()
		close(c.done)
	}()
	return c
}

// stopAll interrupts the processes, publishers and senders first, and
// kills what has not ended after 5 s.
func stopAll(kids []*child) {
	for i := len(kids) - 1; i >= 0; i-- {
		kids[i].cmd.Process.Signal(syscall.SIGINT)
	}
	deadline := time.After(5 * time.Second)
	for _, c := range kids {
		select {
		case <-c.done:
		case <-deadline:
			c.cmd.Process.Kill()
			<-c.done
		}
	}
}
