package capture

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// h264Fixture encodes n frames of the test pattern with OpenH264 (an IDR
// every idrEvery frames) and returns the Annex-B stream and its access
// units.
func h264Fixture(t testing.TB, n, idrEvery int) ([]byte, [][]byte) {
	t.Helper()
	p := defaultH264Params(160, 120, 30, 300_000)
	p.KeyFrameEvery = idrEvery
	enc, err := newH264Encoder(p)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	src := newPatternSource(160, 120, 30)
	var all []byte
	var aus [][]byte
	for i := range n {
		img, _ := src.Read()
		data, _, err := enc.Encode(img, time.Duration(i)*time.Second/30, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) == 0 {
			continue
		}
		all = append(all, data...)
		aus = append(aus, bytes.Clone(data))
	}
	return all, aus
}

func fileBytes(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSniff(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    []byte
		audio bool
		want  streamFormat
		msg   string // in the error
	}{
		{"h264 4-byte", []byte{0, 0, 0, 1, 0x67, 0x42}, false, formatH264, ""},
		{"h264 3-byte", []byte{0, 0, 1, 0x67, 0x42}, false, formatH264, ""},
		{"ivf", []byte("DKIF\x00\x00"), false, formatIVF, ""},
		{"y4m", []byte("YUV4MPEG2 W2"), false, formatY4M, ""},
		{"ogg", []byte("OggS\x00"), true, formatOgg, ""},
		{"empty", nil, false, "", "ended before any data"},
		{"short", []byte{0, 0}, false, "", "ended after 2 bytes"},
		{"garbage", []byte("hello world"), false, "", "want H.264 Annex-B"},
		{"mp4", []byte("\x00\x00\x00\x20ftypisom"), false, "", "MP4"},
		{"webm", []byte{0x1a, 0x45, 0xdf, 0xa3, 1, 2}, false, "", "Matroska"},
		{"wav as audio", []byte("RIFF\x00\x00\x00\x00WAVE"), true, "", "want Ogg/Opus"},
		{"ogg as video", []byte("OggS\x00"), false, "", "want H.264"},
		{"ivf as audio", []byte("DKIF\x00\x00"), true, "", "want Ogg/Opus"},
	} {
		f, err := sniff(bufio.NewReader(bytes.NewReader(tc.in)), tc.audio)
		if tc.msg == "" {
			if err != nil || f != tc.want {
				t.Errorf("%s: got %q, %v; want %q", tc.name, f, err, tc.want)
			}
			continue
		}
		if !errors.Is(err, ErrStreamFormat) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: got %v; want ErrStreamFormat saying %q", tc.name, err, tc.msg)
		}
	}
}

// TestAnnexBRoundTrip: the access units OpenH264 wrote come back one by one,
// keyframes flagged, each IDR with its SPS and PPS.
func TestAnnexBRoundTrip(t *testing.T) {
	stream, aus := h264Fixture(t, 40, 15)
	rd, err := newAnnexBReader(bytes.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	if rd.profile.idc != 66 {
		t.Errorf("profile %v, want Baseline", rd.profile)
	}
	var got []accessUnit
	for {
		au, err := rd.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, au)
	}
	if len(got) != len(aus) {
		t.Fatalf("%d access units, want %d", len(got), len(aus))
	}
	keys := 0
	for i, au := range got {
		if au.key != h264HasIDR(aus[i]) {
			t.Errorf("AU %d: key %v", i, au.key)
		}
		if au.key {
			keys++
			if !hasNAL(au.data, nalSPS) || !hasNAL(au.data, nalPPS) {
				t.Errorf("AU %d: IDR without SPS and PPS", i)
			}
		}
	}
	if keys < 3 {
		t.Errorf("%d keyframes, want 3", keys)
	}
}

func hasNAL(au []byte, typ byte) bool {
	sc := newNALScanner(bytes.NewReader(au))
	for {
		nal, err := sc.next()
		if err != nil {
			return false
		}
		if nal[0]&0x1f == typ {
			return true
		}
	}
}

// nal builds an Annex-B NAL unit.
func nal(b ...byte) []byte { return append([]byte{0, 0, 0, 1}, b...) }

// TestAnnexBGrouping: slices of one picture stay together, SPS and PPS seen
// once are repeated before a later IDR, a stream that starts between
// keyframes is read from its first SPS.
func TestAnnexBGrouping(t *testing.T) {
	sps := []byte{0x67, 0x64, 0x00, 0x1f, 0xac}
	pps := []byte{0x68, 0xee, 0x3c}
	var s []byte
	s = append(s, nal(0x41, 0x9a, 0x01)...) // P slice before any SPS: skipped
	s = append(s, nal(sps...)...)
	s = append(s, nal(pps...)...)
	s = append(s, nal(0x65, 0x88, 0x01)...) // IDR, first_mb 0
	s = append(s, nal(0x65, 0x40, 0x02)...) // IDR, second slice (first_mb 1)
	s = append(s, nal(0x41, 0x9a, 0x03)...) // P
	s = append(s, nal(0x09, 0xf0)...)       // AUD
	s = append(s, nal(0x41, 0x9a, 0x04)...) // P
	s = append(s, nal(0x65, 0x88, 0x05)...) // IDR without parameter sets
	s = append(s, 0, 0)                     // trailing zeros
	rd, err := newAnnexBReader(bytes.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	if rd.profile.idc != 100 {
		t.Errorf("profile %v, want High", rd.profile)
	}
	want := []struct {
		nals []byte // types
		key  bool
	}{
		{[]byte{7, 8, 5, 5}, true},
		{[]byte{1}, false},
		{[]byte{9, 1}, false},
		{[]byte{7, 8, 5}, true},
	}
	for i, w := range want {
		au, err := rd.next()
		if err != nil {
			t.Fatalf("AU %d: %v", i, err)
		}
		var types []byte
		sc := newNALScanner(bytes.NewReader(au.data))
		for {
			n, err := sc.next()
			if err != nil {
				break
			}
			types = append(types, n[0]&0x1f)
		}
		if !bytes.Equal(types, w.nals) || au.key != w.key {
			t.Errorf("AU %d: types %v key %v, want %v %v", i, types, au.key, w.nals, w.key)
		}
	}
	if _, err := rd.next(); !errors.Is(err, io.EOF) {
		t.Errorf("after the last AU: %v, want EOF", err)
	}
}

// TestAnnexBBadInput: truncated and garbage streams give errors, not panics
// or hangs.
func TestAnnexBBadInput(t *testing.T) {
	stream, _ := h264Fixture(t, 5, 30)
	for _, tc := range []struct {
		name string
		in   []byte
		msg  string // "" = a truncated stream read to its end
	}{
		{"no start code", []byte("not h264 at all, not at all"), "start code"},
		{"forbidden bit", append(nal(0x67, 0x42, 0, 0x1f), nal(0xff, 1)...), "forbidden"},
		{"hevc", nal(0x40, 0x01, 0x0c), "H.265"},
		{"no sps", bytes.Repeat(nal(0x41, 0x9a), 1200), "no SPS"},
		{"high 10", nal(0x67, 110, 0, 0x1f), "cannot be sent"},
		{"only sps", nal(0x67, 0x42, 0, 0x1f), ""},
		{"cut", stream[:len(stream)*2/3], ""},
		{"start code only", []byte{0, 0, 0, 1}, "before its first SPS"},
	} {
		rd, err := newAnnexBReader(bytes.NewReader(tc.in))
		for err == nil {
			_, err = rd.next()
		}
		if tc.msg == "" {
			if !errors.Is(err, io.EOF) {
				t.Errorf("%s: %v, want EOF", tc.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.msg)
		}
	}
}

// FuzzStreamParse feeds arbitrary bytes to every stream parser: no panic,
// no hang, and an error or a clean end.
func FuzzStreamParse(f *testing.F) {
	stream, _ := h264Fixture(f, 3, 30)
	dir := f.TempDir()
	f.Add(stream)
	f.Add(fileBytes(f, writeIVFFixture(f, dir, 32, 32, 3)))
	f.Add(fileBytes(f, writeOggFixture(f, dir, 3)))
	f.Add(fileBytes(f, writeY4MFixture(f, dir, 16, 16, 2)))
	f.Add([]byte{0, 0, 1, 0x67, 0x42, 0, 0x1f, 0, 0, 1, 0x65, 0x88})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, audio := range []bool{false, true} {
			in := &streamInput{br: bufio.NewReaderSize(bytes.NewReader(b), 1<<16)}
			if err := in.readHeader(audio); err != nil {
				continue
			}
			for range 10000 {
				var err error
				switch in.format {
				case formatH264:
					_, err = in.h264.next()
				case formatIVF:
					_, _, err = in.ivf.frame()
				case formatOgg:
					_, _, err = in.ogg.next()
				case formatY4M:
					err = in.y4m.readFrame()
				}
				if err != nil {
					break
				}
			}
		}
	})
}

// pipeInput returns the read end of an OS pipe (Close interrupts a Read,
// as with join's standard input) and the write end.
func pipeInput(t testing.TB) (*os.File, *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

// feed writes data to w at about real time (chunks every 10 ms) and closes
// w at the end unless keepOpen.
func feed(w io.WriteCloser, data []byte, chunk int, keepOpen bool) chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for len(data) > 0 {
			n := min(chunk, len(data))
			if _, err := w.Write(data[:n]); err != nil {
				return
			}
			data = data[n:]
			time.Sleep(10 * time.Millisecond) // a producer's pace, not a synchronisation
		}
		if !keepOpen {
			w.Close()
		}
	}()
	return done
}

func waitDone(t testing.TB, m *Media) {
	t.Helper()
	select {
	case <-m.Done():
	case <-time.After(testTimeout):
		t.Fatal("Media.Done not closed at the end of the stream")
	}
}

// TestStdinStreams: H.264, IVF, Y4M and Ogg/Opus written into a pipe reach
// a pion receiver as they are (H.264 and IVF) or encoded (Y4M), and the end
// of the stream closes Media.Done with no error.
func TestStdinStreams(t *testing.T) {
	dir := t.TempDir()
	h264, _ := h264Fixture(t, 120, 10)
	for _, tc := range []struct {
		name   string
		data   []byte
		audio  bool
		codec  string
		frames int64
		recv   func(*webrtc.MediaEngine) error
	}{
		{"h264", h264, false, webrtc.MimeTypeH264, 40, RegisterCodecs},
		{"h264 to a constrained-baseline receiver", h264, false, webrtc.MimeTypeH264, 40, h264Only},
		{"ivf", fileBytes(t, writeIVFFixtureKeys(t, dir, 160, 120, 120, 10)), false, webrtc.MimeTypeVP8, 40, RegisterCodecs},
		{"y4m", fileBytes(t, writeY4MFixture(t, dir, 160, 120, 120)), false, webrtc.MimeTypeVP8, 40, RegisterCodecs},
		{"ogg", fileBytes(t, writeOggFixture(t, dir, 100)), true, webrtc.MimeTypeOpus, 60, RegisterCodecs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, w := pipeInput(t)
			cfg := Config{Video: "-", Stdin: r}
			if tc.audio {
				cfg = Config{Audio: "-", Stdin: r}
			}
			fed := feed(w, tc.data, 4096, false)
			m := openMedia(t, cfg)
			c := dial(t, newAPI(t, RegisterCodecs), newAPI(t, tc.recv), m.Tracks())
			if tc.audio {
				eventually(t, "audio packets", func() bool { return c.rx.audio.Load() >= tc.frames })
			} else {
				eventually(t, "video frames", func() bool { return c.rx.frames.Load() >= tc.frames })
				if c.rx.keyframes.Load() < 1 {
					t.Error("no keyframe")
				}
				if tc.name != "y4m" && c.rx.firstKey.Load() != 1 {
					t.Error("the first video packet received does not start a keyframe")
				}
				if n := c.rx.tsBack.Load(); n != 0 {
					t.Errorf("%d frames with non-increasing timestamps", n)
				}
			}
			kind := map[bool]string{false: "video", true: "audio"}[tc.audio]
			if got := c.rx.codec(kind); got != tc.codec {
				t.Errorf("codec %q, want %q", got, tc.codec)
			}
			<-fed
			waitDone(t, m)
			if err := m.Err(); err != nil {
				t.Errorf("Err after a clean end: %v", err)
			}
		})
	}
}

// TestStreamPacing: a stream written all at once is still sent in real
// time (30 fps): IVF by its timestamps, H.264 (no timestamps) by --fps.
func TestStreamPacing(t *testing.T) {
	h264, _ := h264Fixture(t, 150, 10)
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"ivf", fileBytes(t, writeIVFFixtureKeys(t, t.TempDir(), 64, 64, 150, 10))},
		{"h264", h264},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, w := pipeInput(t)
			go func() { _, _ = w.Write(tc.data) }()
			m := openMedia(t, Config{Video: "-", Stdin: r})
			api := newAPI(t, RegisterCodecs)
			c := dial(t, api, api, m.Tracks())
			eventually(t, "first frames", func() bool { return c.rx.frames.Load() >= 5 })
			rateWithin(t, "frames/s", c.rx.frames.Load, 20, 40)
		})
	}
}

// rateWithin measures how fast count rises over one-second windows, up to
// three of them, and fails unless one is within [lo, hi]. A loaded machine
// can stall the sender for part of a window (and a paced sender then
// catches up in the next), so one window may be off; a source that is not
// paced, or paced at another rate, is off in every one.
func rateWithin(t *testing.T, unit string, count func() int64, lo, hi float64) {
	t.Helper()
	var rates []string
	for range 3 {
		start, n0 := time.Now(), count()
		time.Sleep(time.Second) // measuring a rate, not synchronising
		rate := float64(count()-n0) / time.Since(start).Seconds()
		if rate >= lo && rate <= hi {
			return
		}
		rates = append(rates, fmt.Sprintf("%.1f", rate))
	}
	t.Errorf("%s %s in three one-second windows, want within [%g, %g]", strings.Join(rates, ", "), unit, lo, hi)
}

// TestH264ProfileNegotiation: a High-profile stream is not sent to a
// receiver that only decodes constrained baseline.
func TestH264ProfileNegotiation(t *testing.T) {
	for _, tc := range []struct {
		fmtp   string
		stream byte
		ok     bool
	}{
		{H264Fmtp, 66, true},
		{"packetization-mode=1;profile-level-id=64001f", 66, true},
		{"packetization-mode=1;profile-level-id=64001f", 100, true},
		{"packetization-mode=1;profile-level-id=4d001f", 100, false},
		{H264Fmtp, 100, false},
		{H264Fmtp, 77, false},
		{"packetization-mode=0;profile-level-id=64001f", 66, false},
		{"packetization-mode=1;profile-level-id=zz", 66, false},
		{"packetization-mode=1", 66, true},
	} {
		if got := h264Compatible(tc.fmtp, tc.stream); got != tc.ok {
			t.Errorf("%q with profile_idc %d: %v, want %v", tc.fmtp, tc.stream, got, tc.ok)
		}
	}
}

// TestStreamBadInput: garbage, an empty stream, a stall before the header,
// both sources on stdin: clear errors, quickly.
func TestStreamBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		msg  string
	}{
		{"garbage", []byte("GET / HTTP/1.1\r\n\r\n"), "want H.264 Annex-B"},
		{"empty", nil, "ended before any data"},
		{"stall", []byte{0, 0, 0}, "no video stream header within"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, w := pipeInput(t)
			fed := feed(w, tc.data, 1024, tc.name == "stall")
			start := time.Now()
			_, err := Open(Config{Video: "-", Stdin: r, InputTimeout: time.Second, Logger: testLogger(t)})
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want an error saying %q", err, tc.msg)
			}
			t.Log(err)
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v", d)
			}
			<-fed
		})
	}
	_, err := Open(Config{Video: "-", Audio: "-"})
	if err == nil || !strings.Contains(err.Error(), "only one source") {
		t.Errorf("both on stdin: %v", err)
	}
}

// TestStreamGarbageMidStream: a corrupt frame header after good frames ends
// the track with an error on Media.Err.
func TestStreamGarbageMidStream(t *testing.T) {
	data := fileBytes(t, writeIVFFixture(t, t.TempDir(), 64, 64, 5))
	data = append(data, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0) // a 2 GB frame
	r, w := pipeInput(t)
	feed(w, data, 1<<20, false)
	m := openMedia(t, Config{Video: "-", Stdin: r})
	waitDone(t, m)
	if err := m.Err(); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("Err %v, want the corrupt frame", err)
	}
}

// TestStreamStallCloses: a stream that stops sending (the producer keeps it
// open) does not keep Close from returning.
func TestStreamStallCloses(t *testing.T) {
	stream, _ := h264Fixture(t, 60, 10)
	r, w := pipeInput(t)
	fed := feed(w, stream, 1<<20, true)
	m := openMedia(t, Config{Video: "-", Stdin: r})
	api := newAPI(t, RegisterCodecs)
	c := dial(t, api, api, m.Tracks())
	eventually(t, "some frames", func() bool { return c.rx.frames.Load() >= 5 })
	<-fed
	closed := make(chan struct{})
	go func() { m.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(testTimeout):
		t.Fatal("Close blocked on a stalled stream")
	}
	select {
	case <-m.Done():
		t.Error("Done closed by Close: only the stream's end closes it")
	default:
	}
}

// TestSocketStreams: tcp:// and unix: sources connect as clients, retrying
// until the producer listens.
func TestSocketStreams(t *testing.T) {
	data := fileBytes(t, writeIVFFixtureKeys(t, t.TempDir(), 64, 64, 90, 10))
	sock := filepath.Join(t.TempDir(), "v.sock")
	for _, tc := range []struct{ network, addr, name string }{
		{"tcp", "127.0.0.1:0", "tcp://"},
		{"unix", sock, "unix:"},
	} {
		t.Run(tc.network, func(t *testing.T) {
			ln, err := net.Listen(tc.network, tc.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			served := make(chan struct{})
			go func() {
				defer close(served)
				c, err := ln.Accept()
				if err != nil {
					return
				}
				<-feed(c, data, 4096, false)
			}()
			m := openMedia(t, Config{Video: tc.name + ln.Addr().String()})
			api := newAPI(t, RegisterCodecs)
			c := dial(t, api, api, m.Tracks())
			eventually(t, "video frames", func() bool { return c.rx.frames.Load() >= 30 })
			waitDone(t, m)
			<-served
		})
	}
	// Nobody listening: an error after the timeout, naming the address.
	_, err := Open(Config{Video: "tcp://127.0.0.1:1", InputTimeout: 500 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("refused: %v", err)
	}
}

// TestStreamProfileMismatchKeepsCall: a receiver that cannot decode the
// stream's H.264 profile gets no video, but the negotiation succeeds and
// the other track (audio) flows.
func TestStreamProfileMismatchKeepsCall(t *testing.T) {
	stream, _ := h264Fixture(t, 90, 10)
	// Relabel the SPS as High profile: only the profile is read here.
	sps := []byte{0, 0, 0, 1, 0x67, 0x42}
	if !bytes.Contains(stream, sps) {
		t.Fatalf("no Baseline SPS in the fixture: % x", stream[:16])
	}
	stream = bytes.ReplaceAll(stream, sps, []byte{0, 0, 0, 1, 0x67, 100})
	r, w := pipeInput(t)
	feed(w, stream, 4096, true)
	m := openMedia(t, Config{Video: "-", Audio: "test", Stdin: r})
	if m.video.h264 != 100 {
		t.Fatalf("stream profile %d, want 100", m.video.h264)
	}
	c := dial(t, newAPI(t, RegisterCodecs), newAPI(t, h264Only), m.Tracks())
	eventually(t, "audio", func() bool { return c.rx.audio.Load() >= 25 })
	if n := c.rx.frames.Load(); n != 0 {
		t.Errorf("%d video frames sent to a receiver that cannot decode them", n)
	}
}

// TestPacer: frames without timestamps go out as they arrive but never
// faster than the interval (less 2 %); timestamped frames by their
// timestamps, starting over after a jump.
func TestPacer(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	iv := ms(100)
	min := iv - iv/pacerSlack

	p := pacer{interval: iv}
	// A burst of three frames at t0: spaced by the interval.
	for i, want := range []time.Time{t0, t0.Add(min), t0.Add(2 * min)} {
		if got := p.at(t0, -1); !got.Equal(want) {
			t.Errorf("burst frame %d at %v, want %v", i, got.Sub(t0), want.Sub(t0))
		}
	}
	// A live frame arriving late goes out at once.
	if got := p.at(t0.Add(ms(500)), -1); !got.Equal(t0.Add(ms(500))) {
		t.Errorf("live frame at %v, want 500ms", got.Sub(t0))
	}

	p = pacer{interval: iv}
	for i, tc := range []struct {
		now, pts, want int // ms
	}{
		{0, 5000, 0},       // first frame: the origin
		{0, 5040, 40},      // read early: waits for its time
		{10, 5080, 80},     //
		{900, 5120, 120},   // producer late by less than 1 s: due already (sent at once), its own time kept
		{910, 5160, 160},   //
		{3000, 5200, 3000}, // more than 1 s late: start over from now
		{3000, 5240, 3040},
		{3050, 60000, 3050}, // a jump ahead: start over
		{3060, 60040, 3090},
	} {
		got := p.at(t0.Add(ms(tc.now)), ms(tc.pts))
		if want := t0.Add(ms(tc.want)); !got.Equal(want) {
			t.Errorf("frame %d (now %d, pts %d): at %v, want %v", i, tc.now, tc.pts, got.Sub(t0), want.Sub(t0))
		}
	}
}
