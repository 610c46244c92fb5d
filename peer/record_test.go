package peer_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"

	"github.com/videochat/videochat/internal/looptest"
	"github.com/videochat/videochat/peer"
)

// fixtures writes a 2 s VP8 IVF (320x240@30, key frame every 30) and a
// 2 s Opus Ogg (20 ms pages) into dir.
func fixtures(t *testing.T, dir string) (ivf, ogg string) {
	t.Helper()
	ivf, ogg = filepath.Join(dir, "in.ivf"), filepath.Join(dir, "in.ogg")
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc=size=320x240:rate=30", "-t", "2", "-c:v", "libvpx", "-g", "30", "-b:v", "300k", ivf)
	ffmpeg(t, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "2", "-c:a", "libopus", "-page_duration", "20000", ogg)
	return ivf, ogg
}

// ffmpeg runs ffmpeg with args, failing the test on error.
func ffmpeg(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command("ffmpeg", append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
	}
}

// fileSource loops a VP8 IVF file (unless "") and an Opus Ogg file into
// sample tracks.
type fileSource struct {
	Video, Audio *webrtc.TrackLocalStaticSample
	stop         chan struct{}
	keyReq       chan struct{} // RequestKeyFrame: restart the IVF (frame 0 is a key frame)
	keyReqs      atomic.Int64
	wg           sync.WaitGroup
}

// keyedTrack is the video track as peer sees it: RequestKeyFrame is called
// on PLI/FIR, like capture's encoder tracks.
type keyedTrack struct {
	*webrtc.TrackLocalStaticSample
	s *fileSource
}

func (k keyedTrack) RequestKeyFrame() {
	k.s.keyReqs.Add(1)
	select {
	case k.s.keyReq <- struct{}{}:
	default:
	}
}

func newFileSource(t *testing.T, ivf, ogg string) *fileSource {
	t.Helper()
	v, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "file")
	if err != nil {
		t.Fatal(err)
	}
	a, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "audio", "file")
	if err != nil {
		t.Fatal(err)
	}
	s := &fileSource{Video: v, Audio: a, stop: make(chan struct{}), keyReq: make(chan struct{}, 1)}
	if ivf != "" {
		s.wg.Add(1)
		go s.loop(t, ivf, v, 33*time.Millisecond, s.ivfFrames)
	}
	s.wg.Add(1)
	go s.loop(t, ogg, a, 20*time.Millisecond, s.oggPages)
	t.Cleanup(func() {
		close(s.stop)
		s.wg.Wait()
	})
	return s
}

func (s *fileSource) tracks() []webrtc.TrackLocal {
	return []webrtc.TrackLocal{keyedTrack{s.Video, s}, s.Audio}
}

// loop paces next()'s payloads at every, reopening the file at its end.
func (s *fileSource) loop(t *testing.T, path string, tr *webrtc.TrackLocalStaticSample, every time.Duration,
	open func(io.Reader) (func() ([]byte, error), error)) {
	defer s.wg.Done()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		f, err := os.Open(path)
		if err != nil {
			t.Error(err)
			return
		}
		next, err := open(f)
		if err != nil {
			_ = f.Close()
			t.Error(err)
			return
		}
		keyReq := s.keyReq
		if tr != s.Video {
			keyReq = nil
		}
	frames:
		for {
			b, err := next()
			if err != nil {
				break
			}
			select {
			case <-s.stop:
				_ = f.Close()
				return
			case <-keyReq:
				break frames
			case <-tick.C:
			}
			_ = tr.WriteSample(media.Sample{Data: b, Duration: every})
		}
		_ = f.Close()
	}
}

func (s *fileSource) ivfFrames(r io.Reader) (func() ([]byte, error), error) {
	ivf, _, err := ivfreader.NewWith(r)
	if err != nil {
		return nil, err
	}
	return func() ([]byte, error) {
		b, _, err := ivf.ParseNextFrame()
		return b, err
	}, nil
}

func (s *fileSource) oggPages(r io.Reader) (func() ([]byte, error), error) {
	ogg, _, err := oggreader.NewWith(r)
	if err != nil {
		return nil, err
	}
	return func() ([]byte, error) {
		for {
			b, h, err := ogg.ParseNextPage()
			if err != nil {
				return nil, err
			}
			if h.GranulePosition == 0 {
				continue // OpusHead / OpusTags
			}
			return b, nil
		}
	}, nil
}

type probe struct {
	Streams []struct {
		CodecName string `json:"codec_name"`
		CodecType string `json:"codec_type"`
		Width     int    `json:"width"`
	} `json:"streams"`
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

func ffprobe(t *testing.T, path string) probe {
	t.Helper()
	cmd := exec.Command("ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", path)
	var stderr, stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", path, err, stderr.String())
	}
	if stderr.Len() != 0 {
		t.Errorf("ffprobe %s reported errors: %q", path, stderr.String())
	}
	var p probe
	if err := json.Unmarshal(stdout.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRecordingWebM(t *testing.T) {
	needTool(t, "ffmpeg")
	needTool(t, "ffprobe")
	dir := t.TempDir()
	ivf, ogg := fixtures(t, dir)
	recDir := filepath.Join(dir, "rec")
	if err := os.Mkdir(recDir, 0o755); err != nil {
		t.Fatal(err)
	}

	server := startServer(t)
	rec := startPeer(t, server, "rec", "recorder", peerOpts{recordDir: recDir, tracks: newSynthSource(t, "rec").Tracks()})
	waitWelcome(t, rec)
	src := newFileSource(t, ivf, ogg)
	sender := startPeer(t, server, "rec", "cam 1/x", peerOpts{tracks: src.tracks()})
	senderID := waitWelcome(t, sender)

	var connected time.Time
	waitFor(t, "recorder connected", func() error {
		for _, e := range rec.eventsOf(peer.EventState) {
			if e.Peer.ID == senderID && e.State == "connected" {
				connected = e.Time
				return nil
			}
		}
		return errors.New("not connected")
	})
	waitFor(t, "media", mediaFrom(rec, senderID))
	flowing := time.Now() // media arrived by now
	t.Logf("key frame requests seen by the sender: %d", src.keyReqs.Load())
	time.Sleep(3*time.Second - time.Since(connected)) // a ~3 s call; not synchronisation
	stopping := time.Now()                            // media kept coming until at least now
	sender.stop(t)
	var closed time.Time
	waitFor(t, "recording finalized", func() error {
		for _, e := range rec.eventsOf(peer.EventState) {
			if e.Peer.ID == senderID && e.State == "closed" {
				closed = e.Time
				return nil
			}
		}
		return errors.New("not closed")
	})
	rec.stop(t) // Run returns only after every recording is finalized
	callSecs := closed.Sub(connected).Seconds()

	path := filepath.Join(recDir, fmt.Sprintf("rec-cam_1_x-%s.webm", senderID))
	p := ffprobe(t, path)
	kinds := map[string]string{}
	for _, s := range p.Streams {
		kinds[s.CodecType] = s.CodecName
		if s.CodecType == "video" && s.Width != 320 {
			t.Errorf("video width %d, want 320", s.Width)
		}
	}
	if len(p.Streams) != 2 || kinds["video"] != "vp8" || kinds["audio"] != "opus" {
		t.Errorf("streams %+v, want vp8 + opus", p.Streams)
	}
	dur, err := strconv.ParseFloat(p.Format.Duration, 64)
	if err != nil {
		t.Fatalf("duration %q: %v", p.Format.Duration, err)
	}
	t.Logf("recording %s: duration %.3f s, connected %.3f s", filepath.Base(path), dur, callSecs)
	// Not longer than the connection; at least as long as media surely
	// flowed (on a loaded machine media starts after "connected" and the
	// close comes well after it stops, so callSecs alone is no measure).
	if least := stopping.Sub(flowing).Seconds() - 0.5; dur > callSecs+1 || dur < least {
		t.Errorf("duration %.3f s, connected for %.3f s, media surely flowing for %.3f s: want within [%.3f, %.3f]",
			dur, callSecs, least+0.5, least, callSecs+1)
	}
	decodeCheck(t, path)
}

// decodeCheck decodes the whole file; any decoder error fails the test.
func decodeCheck(t *testing.T, path string) {
	t.Helper()
	cmd := exec.Command("ffmpeg", "-v", "error", "-i", path, "-f", "null", "-")
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) != 0 {
		t.Errorf("decoding %s: %v\n%s", filepath.Base(path), err, out)
	}
}

// h264OnlyAPI negotiates H.264 (packetization-mode 1) and Opus only.
func h264OnlyAPI(t *testing.T) *webrtc.API {
	t.Helper()
	me := &webrtc.MediaEngine{}
	for _, c := range []struct {
		p webrtc.RTPCodecParameters
		k webrtc.RTPCodecType
	}{
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, PayloadType: 102}, webrtc.RTPCodecTypeVideo},
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine: "minptime=10;useinbandfec=1"}, PayloadType: 111}, webrtc.RTPCodecTypeAudio},
	} {
		if err := me.RegisterCodec(c.p, c.k); err != nil {
			t.Fatal(err)
		}
	}
	return looptest.API(t, me)
}

func TestRecordingH264Matroska(t *testing.T) {
	needTool(t, "ffmpeg")
	needTool(t, "ffprobe")
	dir := t.TempDir()
	h264 := filepath.Join(dir, "in.h264")
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc=size=320x240:rate=30", "-t", "2", "-c:v", "libx264",
		"-pix_fmt", "yuv420p", "-profile:v", "baseline", "-g", "30", "-f", "h264", h264)
	raw, err := os.ReadFile(h264)
	if err != nil {
		t.Fatal(err)
	}
	v, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264}, "video", "h264")
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		loopH264(raw, v, stop)
	}()
	t.Cleanup(func() { close(stop); wg.Wait() })
	_, ogg := fixtures(t, dir)
	audio := newFileSource(t, "", ogg).Audio

	recDir := t.TempDir()
	server := startServer(t)
	rec := startPeer(t, server, "h264", "recorder", peerOpts{recordDir: recDir, api: h264OnlyAPI(t)})
	waitWelcome(t, rec)
	sender := startPeer(t, server, "h264", "sender", peerOpts{tracks: []webrtc.TrackLocal{v, audio}})
	senderID := waitWelcome(t, sender)
	waitFor(t, "media", mediaFrom(rec, senderID))
	waitFor(t, "60 frames", func() error {
		if ps, _ := peerStats(rec, senderID); ps.Video.FramesReceived < 60 {
			return errors.New("fewer than 60 frames")
		}
		return nil
	})
	sender.stop(t)
	rec.stop(t)
	path := filepath.Join(recDir, fmt.Sprintf("h264-sender-%s.mkv", senderID))
	p := ffprobe(t, path)
	if len(p.Streams) != 2 || p.Streams[0].CodecName != "h264" || p.Streams[0].Width != 320 || p.Streams[1].CodecName != "opus" {
		t.Errorf("streams %+v, want h264 320 wide + opus", p.Streams)
	}
	t.Logf("h264 recording duration %s s", p.Format.Duration)
	decodeCheck(t, path)
}

// loopH264 sends an Annex-B stream one access unit (split at each slice
// NAL: one slice per picture in the fixture) per 33 ms until stop.
func loopH264(raw []byte, tr *webrtc.TrackLocalStaticSample, stop chan struct{}) {
	aus := splitAccessUnits(raw)
	tick := time.NewTicker(33 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		_ = tr.WriteSample(media.Sample{Data: aus[i%len(aus)], Duration: 33 * time.Millisecond})
	}
}

// splitAccessUnits groups NALs so each group ends with a slice (types 1, 5).
func splitAccessUnits(raw []byte) [][]byte {
	var aus [][]byte
	start := 0
	for i := 0; i+4 < len(raw); i++ {
		if raw[i] != 0 || raw[i+1] != 0 || raw[i+2] != 1 {
			continue
		}
		typ := raw[i+3] & 0x1f
		if typ == 1 || typ == 5 {
			// the access unit ends at the next start code after this slice
			j := i + 3
			for j+3 < len(raw) && !(raw[j] == 0 && raw[j+1] == 0 && (raw[j+2] == 1 || (raw[j+2] == 0 && raw[j+3] == 1))) {
				j++
			}
			if j+3 >= len(raw) {
				j = len(raw)
			}
			aus = append(aus, raw[start:j])
			start = j
			i = j - 1
		}
	}
	return aus
}
