package signalbench

import (
	"maps"
	"sync"
	"sync/atomic"
	"time"
)

// recorder is what the peers' readers report to. Its clock is the
// monotonic time since the run started, which is also what the senders
// stamp into messages.
type recorder struct {
	t0   time.Time
	step atomic.Pointer[stepStats]
}

func newRecorder() *recorder {
	r := &recorder{t0: time.Now()}
	r.step.Store(newStepStats())
	return r
}

// now is the timestamp put in messages: nanoseconds since the run began.
func (r *recorder) now() int64 { return int64(time.Since(r.t0)) }

// current is the phase now being recorded.
func (r *recorder) current() *stepStats { return r.step.Load() }

// begin starts recording a new phase and returns it.
func (r *recorder) begin() *stepStats {
	st := newStepStats()
	r.step.Store(st)
	return st
}

// relayed records one candidate that came back with send time ts.
func (r *recorder) relayed(ts int64) {
	st := r.current()
	st.latency.Record(time.Duration(r.now() - ts))
	st.received.Add(1)
}

// stepStats is what the readers saw during one phase.
type stepStats struct {
	latency  Histogram
	received atomic.Int64

	mu     sync.Mutex
	errors map[string]int // error frames by code
	closes map[string]int // connections the server ended, by reason
}

func newStepStats() *stepStats {
	return &stepStats{errors: map[string]int{}, closes: map[string]int{}}
}

func (s *stepStats) addError(code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errors[code]++
}

func (s *stepStats) addClose(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closes[reason]++
}

// counts copies the error and close counts.
func (s *stepStats) counts() (errs, closes map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.errors), maps.Clone(s.closes)
}
