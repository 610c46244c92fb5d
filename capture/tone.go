package capture

import (
	"math"
	"time"

	"github.com/pion/mediadevices/pkg/wave"
)

// toneSource is the "test" audio: a 440 Hz sine that beeps louder for the
// first 300 ms of every second of the wall clock, in 20 ms mono chunks.
//
// The beeps are in phase with the wall clock so that they mark capture
// times, as the test pattern's time strip does for video (lip-sync
// measurements, e2e/avsync_test.go): like a microphone's, the chunk read
// at time R holds the audio of [R − 20 ms, R], so a beep starts at the
// instant a wall-clock second begins. The first Read sets the phase; the
// pacer and Skip keep it.
type toneSource struct {
	n       int // sample index (in the wall clock's phase) of the next sample
	started bool
	now     func() time.Time
	chunk   *wave.Int16Interleaved
}

func newToneSource() *toneSource {
	return &toneSource{now: time.Now, chunk: wave.NewInt16Interleaved(wave.ChunkInfo{Len: audioFrameTicks, Channels: 1, SamplingRate: audioRate})}
}

func (s *toneSource) Interval() time.Duration { return audioFrame }
func (s *toneSource) Channels() int           { return 1 }
func (s *toneSource) Close() error            { return nil }

// Skip implements audioSkipper: the tone stays in step with the clock.
func (s *toneSource) Skip(frames int) { s.n += frames * audioFrameTicks }

// Read returns the next 20 ms of the tone.
func (s *toneSource) Read() (wave.Audio, func(), error) {
	if !s.started {
		s.started = true
		first := s.now().Add(-audioFrame) // the chunk's first sample
		s.n = int(time.Duration(first.Nanosecond()) * audioRate / time.Second)
	}
	for i := range s.chunk.Data {
		n := s.n + i
		amp := 0.05
		if n%audioRate < audioRate*3/10 {
			amp = 0.3
		}
		v := amp * math.Sin(2*math.Pi*440*float64(n)/audioRate)
		s.chunk.Data[i] = int16(v * math.MaxInt16)
	}
	s.n += len(s.chunk.Data)
	return s.chunk, func() {}, nil
}
