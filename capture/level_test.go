package capture

import (
	"math"
	"testing"

	"github.com/pion/mediadevices/pkg/wave"
	"github.com/pion/webrtc/v4"
)

// TestAudioLevel: a full-scale sine measures about 3 dBov, a sine at a
// tenth of full scale about 23, silence 127; before any audio the level
// is unknown.
func TestAudioLevel(t *testing.T) {
	tr := &track{kind: webrtc.RTPCodecTypeAudio}
	if _, ok := tr.AudioLevel(); ok {
		t.Fatal("a level before any audio")
	}
	for _, c := range []struct {
		amp  float64
		want uint8
	}{{1, 3}, {0.1, 23}, {0, 127}} {
		chunk := wave.NewInt16Interleaved(wave.ChunkInfo{Len: 960, Channels: 1, SamplingRate: 48000})
		for i := range chunk.Data {
			chunk.Data[i] = int16(c.amp * 32767 * math.Sin(2*math.Pi*440*float64(i)/48000))
		}
		tr.level.measure(chunk)
		got, ok := tr.AudioLevel()
		if !ok || got != c.want {
			t.Errorf("amplitude %.1f: level %d (ok %v), want %d", c.amp, got, ok, c.want)
		}
	}
}
