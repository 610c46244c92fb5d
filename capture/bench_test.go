package capture

import (
	"fmt"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// BenchmarkEncode measures the cost of encoding one 640x480 frame of the
// test pattern at a 1 Mbps target (30 fps timestamps), and reports the
// bitrate the encoder produced. Run:
//
//	go test ./capture -run '^$' -bench Encode -benchtime 300x
func BenchmarkEncode(b *testing.B) {
	const w, h, fps, bitrate = 640, 480, 30, 1_000_000
	cases := []struct {
		name string
		new  func() (videoEncoder, error)
	}{
		{"VP8", func() (videoEncoder, error) { return newVP8Encoder(defaultVP8Params(w, h, fps, bitrate)) }},
		{"H264", func() (videoEncoder, error) { return newH264Encoder(defaultH264Params(w, h, fps, bitrate)) }},
	}
	for _, speed := range []int{-4, -6, -10, -12, -16} {
		cases = append(cases, struct {
			name string
			new  func() (videoEncoder, error)
		}{fmt.Sprintf("VP8-cpu%d", speed), func() (videoEncoder, error) {
			p := defaultVP8Params(w, h, fps, bitrate)
			p.CPUUsed = speed
			return newVP8Encoder(p)
		}})
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			enc, err := tc.new()
			if err != nil {
				b.Fatal(err)
			}
			defer enc.Close()
			src := newPatternSource(w, h, fps)
			// Pre-draw the frames: the benchmark is about the encoder.
			frames := make([][3][]byte, 60)
			for i := range frames {
				img, _ := src.Read()
				frames[i] = [3][]byte{append([]byte(nil), img.Y...), append([]byte(nil), img.Cb...), append([]byte(nil), img.Cr...)}
			}
			img := newI420(w, h)
			var bytes int64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				f := frames[i%len(frames)]
				copy(img.Y, f[0])
				copy(img.Cb, f[1])
				copy(img.Cr, f[2])
				data, _, err := enc.Encode(img, time.Duration(i)*time.Second/fps, false)
				if err != nil {
					b.Fatal(err)
				}
				bytes += int64(len(data))
			}
			b.ReportMetric(float64(bytes)*8*fps/float64(b.N)/1000, "kbps")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)*fps/1e9, "cores@30fps")
		})
	}
}

// BenchmarkPattern measures drawing one 640x480 test-pattern frame.
func BenchmarkPattern(b *testing.B) {
	src := newPatternSource(640, 480, 30)
	for i := 0; i < b.N; i++ {
		src.Read()
	}
}

// BenchmarkLayers measures a frame's whole send cost (encode per layer,
// halve, packetize and write per receiver) for 1 receiver on 1 layer and 3
// receivers on 2 layers (the top at 1 Mbps, a half-size one at 250 kbps),
// driving the real pipeline state with discarding writers. Run:
//
//	go test ./capture -run '^$' -bench Layers -benchtime 300x
func BenchmarkLayers(b *testing.B) {
	for _, tc := range []struct {
		name      string
		estimates []int
	}{
		{"1rx-1layer", []int{1_000_000}},
		{"3rx-2layers", []int{1_000_000, 1_000_000, 250_000}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			est := map[uint32]int{}
			var bs []binding
			for i, e := range tc.estimates {
				ssrc := uint32(i + 1)
				est[ssrc] = e
				bs = append(bs, binding{id: fmt.Sprint(i), ssrc: webrtc.SSRC(ssrc), pt: ptVP8, write: discard{}})
			}
			v := &liveVideo{encoders: defaultEncoders(), fps: 30, ceiling: 1_000_000, floor: DefaultMinVideoBitrate,
				estimate: func(ssrc uint32) (int, bool) { return est[ssrc], true }, log: testLogger(b)}
			tr := newTrack(webrtc.RTPCodecTypeVideo, "video", "s", []codecKey{keyVP8}, nil, testLogger(b))
			tr.subs[keyVP8] = bs
			tr.version++
			st := &videoState{v: v, t: tr, sets: map[codecKey]*layerSet{}, version: noVersion}
			defer st.closeAll()
			src := newPatternSource(640, 480, 30)
			start := time.Now()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				img, _ := src.Read()
				pts := time.Duration(i) * time.Second / 30
				if err := st.encodeAll(img, pts, start.Add(pts), 30); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)*30/1e9, "cores@30fps")
			b.ReportMetric(float64(tr.counters.encoders.Load()), "encoders")
		})
	}
}

// discard is a TrackLocalWriter that drops what it is given, reporting it
// sent (n = 0 would mean "not sent": the encoder would force keyframes).
type discard struct{}

func (discard) WriteRTP(_ *rtp.Header, p []byte) (int, error) { return len(p), nil }
func (discard) Write(b []byte) (int, error)                   { return len(b), nil }
