package capture

import (
	"testing"
	"time"
)

// TestEncoderBitrate encodes 10 s of the 640x480 test pattern and checks
// that each encoder's output stays within ±25 % of its target.
func TestEncoderBitrate(t *testing.T) {
	const w, h, fps, frames = 640, 480, 30, 300
	for _, tc := range []struct {
		name    string
		bitrate int
		new     func(bitrate int) (videoEncoder, error)
	}{
		{"VP8/1M", 1_000_000, func(br int) (videoEncoder, error) { return newVP8Encoder(defaultVP8Params(w, h, fps, br)) }},
		{"VP8/300k", 300_000, func(br int) (videoEncoder, error) { return newVP8Encoder(defaultVP8Params(w, h, fps, br)) }},
		{"H264/1M", 1_000_000, func(br int) (videoEncoder, error) { return newH264Encoder(defaultH264Params(w, h, fps, br)) }},
		{"H264/300k", 300_000, func(br int) (videoEncoder, error) { return newH264Encoder(defaultH264Params(w, h, fps, br)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enc, err := tc.new(tc.bitrate)
			if err != nil {
				t.Fatal(err)
			}
			defer enc.Close()
			src := newPatternSource(w, h, fps)
			var total, keys int
			start := time.Now()
			for i := range frames {
				img, _ := src.Read()
				data, key, err := enc.Encode(img, time.Duration(i)*time.Second/fps, false)
				if err != nil {
					t.Fatal(err)
				}
				total += len(data)
				if key {
					keys++
				}
			}
			got := float64(total) * 8 * fps / frames
			t.Logf("%.0f kbps for a %d kbps target, %d keyframes, %.2f ms/frame",
				got/1000, tc.bitrate/1000, keys, float64(time.Since(start).Microseconds())/1000/frames)
			if got < 0.75*float64(tc.bitrate) || got > 1.25*float64(tc.bitrate) {
				t.Errorf("bitrate %.0f, want %d ±25%%", got, tc.bitrate)
			}
			if keys < 1 || keys > 2 {
				t.Errorf("%d keyframes in 10 s, want the first one only (or one periodic)", keys)
			}
		})
	}
}

// TestVP8FollowsACut: 3 s of the 640x480 test pattern at 1 Mbit/s, then
// SetBitrate(250k): over the next 2 s the encoder makes at most 1.5 × the
// new target (measured: 325–400 kbit/s in the first second, 1.07–1.09 × the
// target after). So the encoder is not what overshoots behind a
// bottleneck that has just filled (BENCHMARKS.md, "Paying for the
// retransmissions"): it follows a cut within a second.
func TestVP8FollowsACut(t *testing.T) {
	const w, h, fps = 640, 480, 30
	enc, err := newVP8Encoder(defaultVP8Params(w, h, fps, 1_000_000))
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	src := newPatternSource(w, h, fps)
	var after [2]int
	for i := range 5 * fps {
		if i == 3*fps {
			if err := enc.SetBitrate(250_000); err != nil {
				t.Fatal(err)
			}
		}
		img, _ := src.Read()
		data, _, err := enc.Encode(img, time.Duration(i)*time.Second/fps, false)
		if err != nil {
			t.Fatal(err)
		}
		if i >= 3*fps {
			after[(i-3*fps)/fps] += len(data)
		}
	}
	t.Logf("after the cut to 250 kbit/s: %d, %d kbit/s", after[0]*8/1000, after[1]*8/1000)
	if got := (after[0] + after[1]) * 8 / 2; got > 375_000 {
		t.Errorf("%d bit/s over the 2 s after a cut to 250 kbit/s, want at most 1.5 × the target", got)
	}
}
