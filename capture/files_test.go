package capture

import (
	"bytes"
	"github.com/pion/mediadevices/pkg/io/audio"
	"image"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/ivfwriter"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"
)

// packetTap is a TrackLocalWriter that keeps the packets written to it.
type packetTap struct{ packets []*rtp.Packet }

func (p *packetTap) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	p.packets = append(p.packets, &rtp.Packet{Header: *h, Payload: bytes.Clone(payload)})
	return len(payload), nil
}

func (p *packetTap) Write(b []byte) (int, error) { return len(b), nil }

func tapBinding(tap *packetTap) []binding {
	return []binding{{id: "tap", ssrc: 1, pt: 96, write: tap}}
}

// writeY4MFixture writes n frames of the test pattern.
func writeY4MFixture(t testing.TB, dir string, w, h, n int) string {
	src := newPatternSource(w, h, 30)
	frames := make([]*image.YCbCr, n)
	for i := range frames {
		img, _ := src.Read()
		c := newI420(w, h)
		copy(c.Y, img.Y)
		copy(c.Cb, img.Cb)
		copy(c.Cr, img.Cr)
		frames[i] = c
	}
	path := filepath.Join(dir, "clip.y4m")
	var buf bytes.Buffer
	if err := writeY4M(&buf, 30, frames); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeIVFFixture encodes n frames of the test pattern with this package's
// VP8 encoder and packetizer, and writes them with pion's ivfwriter.
func writeIVFFixture(t testing.TB, dir string, w, h, n int) string {
	return writeIVFFixtureKeys(t, dir, w, h, n, 0)
}

// writeIVFFixtureKeys is writeIVFFixture with a keyframe every keyEvery
// frames (0: the encoder's default, 10 s).
func writeIVFFixtureKeys(t testing.TB, dir string, w, h, n, keyEvery int) string {
	p := defaultVP8Params(w, h, 30, 300_000)
	if keyEvery > 0 {
		p.KeyFrameEvery = keyEvery
	}
	enc, err := newVP8Encoder(p)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	src, out, tap := newPatternSource(w, h, 30), newRTPOut(keyVP8), &packetTap{}
	for i := range n {
		img, _ := src.Read()
		pts := time.Duration(i) * time.Second / 30
		data, _, err := enc.Encode(img, pts, false)
		if err != nil {
			t.Fatal(err)
		}
		out.send(tapBinding(tap), data, uint32(i*3000), time.Now())
	}
	path := filepath.Join(dir, "clip.ivf")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	iw, err := ivfwriter.NewWith(f, ivfwriter.WithCodec(webrtc.MimeTypeVP8),
		ivfwriter.WithWidthAndHeight(uint16(w), uint16(h)), ivfwriter.WithFrameRate(1, 90000), ivfwriter.WithDirectPTS())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range tap.packets {
		if err := iw.WriteRTP(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := iw.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeOggFixture encodes n 20 ms packets of the test tone and writes them
// with pion's oggwriter.
func writeOggFixture(t testing.TB, dir string, n int) string {
	enc, err := newOpus(1, 32000)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	chunks := audio.NewBuffer(audioFrameTicks)(newToneSource())
	out, tap := newRTPOut(keyOpus), &packetTap{}
	for i := range n {
		chunk, release, err := chunks.Read()
		if err != nil {
			t.Fatal(err)
		}
		data, err := enc.Encode(chunk)
		release()
		if err != nil {
			t.Fatal(err)
		}
		out.send(tapBinding(tap), data, uint32(i*audioFrameTicks), time.Now())
	}
	path := filepath.Join(dir, "tone.ogg")
	ow, err := oggwriter.New(path, audioRate, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range tap.packets {
		if err := ow.WriteRTP(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := ow.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestFileSourcesLoop(t *testing.T) {
	dir := t.TempDir()
	y4m := writeY4MFixture(t, dir, 160, 120, 6)
	ivf := writeIVFFixture(t, dir, 160, 120, 15)
	ogg := writeOggFixture(t, dir, 25)
	for _, p := range []string{y4m, ivf, ogg} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d bytes", filepath.Base(p), st.Size())
	}
	api := newAPI(t, RegisterCodecs)
	for _, tc := range []struct {
		name       string
		cfg        Config
		fileFrames int64 // frames or packets in one loop of the file
	}{
		{"y4m", Config{Video: y4m, Audio: "none"}, 6},
		{"ivf", Config{Video: ivf, Audio: "none"}, 15},
		{"ogg", Config{Video: "none", Audio: ogg}, 25},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := openMedia(t, tc.cfg)
			c := dial(t, api, api, m.Tracks())
			if tc.cfg.Audio != "none" {
				eventually(t, "60 audio packets (over two loops)", func() bool { return c.rx.audio.Load() >= 60 })
				if got := c.rx.codec("audio"); got != webrtc.MimeTypeOpus {
					t.Errorf("codec %q", got)
				}
				return
			}
			eventually(t, "35 video frames (over two loops)", func() bool { return c.rx.frames.Load() >= 35 })
			if got := c.rx.codec("video"); got != webrtc.MimeTypeVP8 {
				t.Errorf("codec %q", got)
			}
			if n := c.rx.tsBack.Load(); n != 0 {
				t.Errorf("%d frames with non-increasing RTP timestamps across loops", n)
			}
			if tc.name == "ivf" && c.rx.keyframes.Load() < 2 {
				t.Errorf("%d keyframes: the file's first frame should come again each loop", c.rx.keyframes.Load())
			}
		})
	}
}

// TestFilePacing checks that a file is played at its own rate.
func TestFilePacing(t *testing.T) {
	ogg := writeOggFixture(t, t.TempDir(), 10)
	m := openMedia(t, Config{Audio: ogg})
	api := newAPI(t, RegisterCodecs)
	c := dial(t, api, api, m.Tracks())
	eventually(t, "first audio", func() bool { return c.rx.audio.Load() >= 1 })
	rateWithin(t, "packets/s", c.rx.audio.Load, 40, 60)
}

func TestY4MHeader(t *testing.T) {
	for _, tc := range []struct {
		line string
		ok   bool
	}{
		{"YUV4MPEG2 W640 H480 F30:1 Ip A1:1 C420jpeg", true},
		{"YUV4MPEG2 W320 H240 F25:1", true},
		{"YUV4MPEG2 W320 H240 F30000:1001 C420mpeg2 XYSCSS=420MPEG2", true},
		{"YUV4MPEG2 W320 H240 F30:1 C444", false},
		{"YUV4MPEG2 W320 H240 F30:1 C420p10", false},
		{"YUV4MPEG2 W321 H240", false},
		{"YUV4MPEG2 W320 H240 It", false},
		{"RIFF", false},
	} {
		_, err := parseY4MHeader(tc.line)
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v, want ok=%v", tc.line, err, tc.ok)
		}
	}
}

func TestOpusSamples(t *testing.T) {
	for _, tc := range []struct {
		p    []byte
		want int
	}{
		{[]byte{0xfc}, 960},           // CELT FB 20 ms, one frame
		{[]byte{0xf8 | 1}, 1920},      // two 20 ms frames
		{[]byte{0x08}, 960},           // SILK NB 20 ms
		{[]byte{0x03 << 3}, 2880},     // SILK NB 60 ms
		{[]byte{0xe3, 0x03}, 3 * 120}, // CELT 2.5 ms, code 3, three frames
	} {
		got, err := opusSamples(tc.p)
		if err != nil || got != tc.want {
			t.Errorf("% x: got %d %v, want %d", tc.p, got, err, tc.want)
		}
	}
}
