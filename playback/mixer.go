package playback

// The mixer: every remote audio stream, summed into one mono signal at Rate
// for one output.
//
// Invariants: the output pulls (Read) from one goroutine or audio thread at
// a time; streams come and go concurrently with it (AddStream, Stream.Close)
// and a stream closed during a Read is either mixed whole or not at all.
// Read holds the mixer's lock only to copy the stream list, never while
// decoding, so adding or removing a stream never waits for a decode.

import (
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// MixerConfig configures a Mixer.
type MixerConfig struct {
	Logger *slog.Logger
	// Now is the clock (time.Now when nil); tests pass their own.
	Now func() time.Time
}

// Mixer mixes the remote streams. The zero value is not usable: use
// NewMixer.
type Mixer struct {
	log     *slog.Logger
	now     func() time.Time
	latency atomic.Int64  // output latency (device buffer), ns
	pulled  atomic.Uint64 // samples handed to the output
	reads   atomic.Uint64 // calls of Read: the output's wake-ups

	mu      sync.Mutex
	streams []*Stream
	scratch []*Stream // Read's copy of streams
	mix     []int32
}

// NewMixer returns an empty mixer.
func NewMixer(cfg MixerConfig) *Mixer {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Mixer{log: cfg.Logger, now: cfg.Now}
}

// AddStream adds a remote Opus track and returns its stream, which takes
// the track's packets and leaves the mixer when closed.
func (m *Mixer) AddStream(t Track) (*Stream, error) {
	s, err := newStream(t, m, m.log.With("peer", t.PeerName, "id", t.PeerID))
	if err != nil {
		return nil, fmt.Errorf("audio of %s: %w", t.PeerName, err)
	}
	m.mu.Lock()
	m.streams = append(m.streams, s)
	m.mu.Unlock()
	return s, nil
}

func (m *Mixer) remove(s *Stream) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.streams = slices.DeleteFunc(m.streams, func(x *Stream) bool { return x == s })
}

// Inputs is the number of streams being mixed.
func (m *Mixer) Inputs() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.streams)
}

// Read fills out with the next len(out) mixed samples (mono, Rate), as
// they are handed to the device now.
func (m *Mixer) Read(out []int16) {
	now := m.now()
	m.pulled.Add(uint64(len(out)))
	m.reads.Add(1)
	m.mu.Lock()
	m.scratch = append(m.scratch[:0], m.streams...)
	streams := m.scratch
	m.mu.Unlock()
	// Read is never concurrent with itself, so scratch and mix are its own.
	if cap(m.mix) < len(out) {
		m.mix = make([]int32, len(out))
	}
	mix := m.mix[:len(out)]
	clear(mix)
	for _, s := range streams {
		s.mixInto(mix, now)
	}
	for i, v := range mix {
		out[i] = int16(min(max(v, math.MinInt16), math.MaxInt16))
	}
	clear(streams) // drop references to closed streams
}

// Pulled is the number of samples the output has taken so far.
func (m *Mixer) Pulled() uint64 { return m.pulled.Load() }

// Reads is the number of times the output has pulled (called Read): how
// often the playback path wakes up.
func (m *Mixer) Reads() uint64 { return m.reads.Load() }

// SetLatency tells the mixer how long a sample handed over by Read takes
// to be heard (the device's buffer).
func (m *Mixer) SetLatency(d time.Duration) { m.latency.Store(int64(d)) }

// Latency is the output latency set by SetLatency.
func (m *Mixer) Latency() time.Duration { return time.Duration(m.latency.Load()) }

// Level is one remote peer's audio level.
type Level struct {
	PeerID, PeerName string
	// RMS of the audio played last, 0..1 of full scale.
	RMS float64
}

// DBFS is the level in dB relative to full scale (−100 for silence).
func (l Level) DBFS() float64 {
	if l.RMS <= 1e-5 {
		return -100
	}
	return 20 * math.Log10(l.RMS)
}

// Levels returns each remote peer's level (the loudest of its streams), in
// the order the peers' audio started.
func (m *Mixer) Levels() []Level {
	var out []Level
	for _, st := range m.Stats() {
		i := slices.IndexFunc(out, func(l Level) bool { return l.PeerID == st.PeerID })
		if i < 0 {
			out = append(out, Level{PeerID: st.PeerID, PeerName: st.PeerName, RMS: st.Level})
			continue
		}
		out[i].RMS = max(out[i].RMS, st.Level)
	}
	return out
}

// Stats returns the counters of every stream being mixed.
func (m *Mixer) Stats() []StreamStats {
	m.mu.Lock()
	streams := slices.Clone(m.streams)
	m.mu.Unlock()
	now, latency := m.now(), m.Latency()
	out := make([]StreamStats, 0, len(streams))
	for _, s := range streams {
		out = append(out, s.stats(now, latency))
	}
	return out
}

// SenderTimeNow is the instant of peerID's sender wall clock (from its RTCP
// sender reports) whose audio is being heard at the speaker right now:
// what the video of that peer should show for lip sync. ok is false until
// a sender report has come and audio is playing, and while it is not.
func (m *Mixer) SenderTimeNow(peerID string) (time.Time, bool) {
	now := m.now()
	m.mu.Lock()
	streams := slices.Clone(m.streams)
	m.mu.Unlock()
	for _, s := range streams {
		if s.track.PeerID != peerID {
			continue
		}
		if t, ok := s.senderTimeAt(now, m.Latency()); ok {
			return t, true
		}
	}
	return time.Time{}, false
}
