package capture

import (
	"math"
	"time"

	"github.com/pion/mediadevices/pkg/wave"
)

// toneSource is the "test" audio: a 440 Hz sine that beeps louder for the
// first 300 ms of every second, in 20 ms mono chunks.
type toneSource struct {
	n     int // samples produced
	chunk *wave.Int16Interleaved
}

func newToneSource() *toneSource {
	return &toneSource{chunk: wave.NewInt16Interleaved(wave.ChunkInfo{Len: audioFrameTicks, Channels: 1, SamplingRate: audioRate})}
}

func (s *toneSource) Interval() time.Duration { return audioFrame }
func (s *toneSource) Channels() int           { return 1 }
func (s *toneSource) Close() error            { return nil }

// Skip implements audioSkipper: the tone stays in step with the clock.
func (s *toneSource) Skip(frames int) { s.n += frames * audioFrameTicks }

// Read returns the next 20 ms of the tone.
func (s *toneSource) Read() (wave.Audio, func(), error) {
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
