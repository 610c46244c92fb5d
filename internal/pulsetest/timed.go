package pulsetest

// A recording of a sink's monitor with the wall-clock time of its samples,
// for timing what comes out of a sink (lip sync: e2e/avsync_test.go; the
// player's clock: playback's TestSpeakerClock).
//
// parec reads the monitor with a 10 ms latency and every read is stamped
// with the time it returned. A sample cannot be read before it was played,
// so sample i left the sink at or before
//
//	min over reads k of (time of read k − (samples read by k − i) / rate)
//
// and Clock.At takes that bound (over the reads within a second after i)
// as its time. Its error is the record latency, which pulse reports to
// parec -v: Latency returns the median of those reports (a few ms here).

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"
)

// TimedRecording is parec reading a sink's monitor, mono s16; it ends
// when the test does.
type TimedRecording struct {
	rate int
	cmd  *exec.Cmd
	done chan struct{}

	mu      sync.Mutex
	pcm     []int16
	reads   []timedRead
	verbose bytes.Buffer // parec -v: its latency, twenty times a second
}

type timedRead struct {
	end int // samples read so far
	at  time.Time
}

// lockedWriter lets parec's stderr be read while it is written.
type lockedWriter struct{ r *TimedRecording }

func (w lockedWriter) Write(b []byte) (int, error) {
	w.r.mu.Lock()
	defer w.r.mu.Unlock()
	return w.r.verbose.Write(b)
}

// RecordTimed starts recording the monitor of sink at rate Hz, mono.
func (s *Server) RecordTimed(sink string, rate int) *TimedRecording {
	s.tb.Helper()
	r := &TimedRecording{rate: rate, done: make(chan struct{})}
	r.cmd = s.Cmd("parec", "-v", "-d", sink+".monitor", "--raw", "--format=s16le",
		fmt.Sprintf("--rate=%d", rate), "--channels=1", "--latency-msec=10")
	out, err := r.cmd.StdoutPipe()
	if err != nil {
		s.tb.Fatal(err)
	}
	r.cmd.Stderr = lockedWriter{r}
	if err := r.cmd.Start(); err != nil {
		s.tb.Fatalf("pulsetest: parec: %v", err)
	}
	go r.read(out)
	s.tb.Cleanup(func() {
		_ = r.cmd.Process.Kill()
		<-r.done
		_ = r.cmd.Wait()
	})
	return r
}

func (r *TimedRecording) read(out io.Reader) {
	defer close(r.done)
	buf := make([]byte, 4096)
	var odd []byte
	for {
		n, err := out.Read(buf)
		at := time.Now()
		if n > 0 {
			b := append(odd, buf[:n]...)
			r.mu.Lock()
			for len(b) >= 2 {
				r.pcm = append(r.pcm, int16(binary.LittleEndian.Uint16(b)))
				b = b[2:]
			}
			r.reads = append(r.reads, timedRead{end: len(r.pcm), at: at})
			r.mu.Unlock()
			odd = append([]byte(nil), b...)
		}
		if err != nil {
			return
		}
	}
}

// Samples is how many samples were recorded so far.
func (r *TimedRecording) Samples() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pcm)
}

// Snapshot is what was recorded so far and the clock of its samples.
func (r *TimedRecording) Snapshot() ([]int16, Clock) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.pcm), Clock{rate: r.rate, reads: slices.Clone(r.reads)}
}

var parecLatency = regexp.MustCompile(`Latency: (-?\d+) usec`)

// Latency is the median record latency (absolute) parec reported: how
// long a sample played into the sink waits before parec can read it.
func (r *TimedRecording) Latency() time.Duration {
	r.mu.Lock()
	text := r.verbose.String()
	r.mu.Unlock()
	var all []time.Duration
	for _, m := range parecLatency.FindAllStringSubmatch(text, -1) {
		us, _ := strconv.Atoi(m[1])
		all = append(all, time.Duration(max(us, -us))*time.Microsecond)
	}
	if len(all) == 0 {
		return 0
	}
	slices.Sort(all)
	return all[len(all)/2]
}

// Clock maps sample indices of a recording to the wall clock.
type Clock struct {
	rate  int
	reads []timedRead
}

// At is the latest time sample i can have been played (zero when no read
// within a second after it is known).
func (c Clock) At(i int) time.Time {
	var best time.Time
	for _, rd := range c.reads {
		if rd.end < i || rd.end > i+c.rate {
			continue
		}
		t := rd.at.Add(-time.Duration(rd.end-i) * time.Second / time.Duration(c.rate))
		if best.IsZero() || t.Before(best) {
			best = t
		}
	}
	return best
}
