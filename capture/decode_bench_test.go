package capture

import (
	"bufio"
	"errors"
	"image"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/videochat/videochat/view/decode"
)

// BenchmarkDecodeContent measures what a receiver pays to decode 300
// frames (10 s) of 640×480@30 VP8 at 1 Mbps with libvpx (view/decode, as
// the native viewer does), for the two contents BenchmarkViewCPU sends:
//   - pattern: the "test" pattern encoded live by this package's encoder
//     (join --video test);
//   - testsrc2: ffmpeg's testsrc2 encoded by ffmpeg's libvpx as
//     BenchmarkViewCPU's file senders loop it (VIDEOCHAT_VIEWBENCH_FILE=1).
//
// Both are ≈ 1 Mbps, but the pattern's gradients drift under the whole
// picture every frame, so every macroblock carries a residual, while most
// of testsrc2 stands still. ms/frame and cores for two streams at 30 fps
// (what the viewer decodes) are reported. Run:
//
//	go test ./capture -run '^$' -bench DecodeContent -benchtime 5x
func BenchmarkDecodeContent(b *testing.B) {
	contents := map[string]func(*testing.B) [][]byte{"pattern": patternFrames, "testsrc2": testsrc2Frames}
	for _, name := range []string{"pattern", "testsrc2"} {
		b.Run(name, func(b *testing.B) {
			frames := contents[name](b)
			var bytes int
			for _, f := range frames {
				bytes += len(f)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				dec, err := decode.New(decode.VP8)
				if err != nil {
					b.Fatal(err)
				}
				var img *image.YCbCr // the decoder allocates the first picture, then reuses it
				for _, f := range frames {
					if img, err = dec.Decode(f, img); err != nil {
						b.Fatal(err)
					}
				}
				dec.Close()
			}
			perFrame := float64(b.Elapsed().Nanoseconds()) / float64(b.N*len(frames))
			b.ReportMetric(perFrame/1e6, "ms/frame")
			b.ReportMetric(perFrame*60/1e9, "cores@2x30fps")
			b.ReportMetric(float64(bytes)*8/(float64(len(frames))/30)/1000, "kbps")
		})
	}
}

// patternFrames encodes 300 frames of the live test pattern as join
// --video test does (defaultVP8Params, 1 Mbps).
func patternFrames(b *testing.B) [][]byte {
	src := newPatternSource(640, 480, 30)
	enc, err := newVP8Encoder(defaultVP8Params(640, 480, 30, 1_000_000))
	if err != nil {
		b.Fatal(err)
	}
	defer enc.Close()
	var out [][]byte
	for i := 0; i < 300; i++ {
		img, _ := src.Read()
		data, _, err := enc.Encode(img, time.Duration(i)*time.Second/30, i == 0)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, append([]byte(nil), data...))
	}
	return out
}

// testsrc2Frames encodes 300 frames of ffmpeg's testsrc2 with the
// settings of BenchmarkViewCPU's file senders (e2e benchIVF).
func testsrc2Frames(b *testing.B) [][]byte {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		if os.Getenv("CI") == "true" {
			b.Fatal("ffmpeg not installed (scripts/deps.sh test)")
		}
		b.Skip("ffmpeg not installed")
	}
	path := filepath.Join(b.TempDir(), "src.ivf")
	cmd := exec.Command("ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=640x480:rate=30",
		"-t", "10", "-c:v", "libvpx", "-b:v", "1M", "-deadline", "realtime", "-cpu-used", "8", "-g", "300", path)
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("ffmpeg: %v: %s", err, msg)
	}
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	r, err := newIVFReader(bufio.NewReader(f))
	if err != nil {
		b.Fatal(err)
	}
	var out [][]byte
	for {
		data, _, err := r.frame()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, append([]byte(nil), data...))
	}
}
