package capture

import (
	"math"
	"sync/atomic"

	"github.com/pion/mediadevices/pkg/wave"
	"github.com/pion/webrtc/v4"
)

// Audio level of the live audio pipelines, for the RTP audio-level header
// extension (RFC 6464) that tells receivers who is talking without
// decoding. The pipeline measures each raw chunk (20 ms) before encoding;
// the track reports the last one through AudioLevel, which package peer's
// audio-level interceptor writes into every outgoing Opus packet.

// audioLevel holds 1 + the level of the last chunk in -dBov (0 loudest,
// 127 silence); 0 before the first chunk (and for tracks never measured).
type audioLevel struct{ v atomic.Int32 }

// levelSource measures every chunk read through it.
type levelSource struct {
	audioSource
	l *audioLevel
}

func (s levelSource) Read() (wave.Audio, func(), error) {
	chunk, release, err := s.audioSource.Read()
	if err == nil && chunk != nil {
		s.l.measure(chunk)
	}
	return chunk, release, err
}

// wrap returns src measured into l.
func (l *audioLevel) wrap(src audioSource) audioSource {
	return levelSource{audioSource: src, l: l}
}

// measure stores the RMS level of chunk, in -dBov.
func (l *audioLevel) measure(chunk wave.Audio) {
	info := chunk.ChunkInfo()
	n := info.Len * info.Channels
	if n == 0 {
		return
	}
	var sum float64
	for i := 0; i < info.Len; i++ {
		for ch := 0; ch < info.Channels; ch++ {
			v := float64(chunk.At(i, ch).Int()) / (1 << 31) // Sample.Int is 32-bit full scale
			sum += v * v
		}
	}
	rms := math.Sqrt(sum / float64(n))
	dbov := 127.0
	if rms > 0 {
		dbov = math.Min(127, math.Max(0, -20*math.Log10(rms)))
	}
	l.v.Store(1 + int32(math.Round(dbov)))
}

// AudioLevel returns the level of the last 20 ms of a live audio track in
// -dBov (0 loudest, 127 silence); ok is false before any audio, and for
// video and file tracks.
func (t *track) AudioLevel() (level uint8, ok bool) {
	v := t.level.v.Load()
	if v == 0 || t.kind != webrtc.RTPCodecTypeAudio {
		return 127, false
	}
	return uint8(v - 1), true
}
