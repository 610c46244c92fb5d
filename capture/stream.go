package capture

// Streams from other programs: a source named "-" reads Config.Stdin, one
// named tcp://HOST:PORT or unix:PATH connects to a socket (this side is the
// client: `ffmpeg … tcp://0.0.0.0:5000?listen`, `rpicam-vid --listen -o
// tcp://0.0.0.0:5000`, GStreamer's tcpserversink listen).
//
// Invariants:
//   - The format is detected from the first bytes, in Open, within
//     Config.InputTimeout: video H.264 Annex-B (sent as is), IVF/VP8 (sent as
//     is) or Y4M (encoded live); audio Ogg/Opus (sent as is). Anything else
//     is an error that names what was expected.
//   - A stream is read once, from Open until its end or Media.Close, whether
//     or not a peer is bound (the track is persistent): frames that arrive
//     while nobody listens are dropped, so the producer never blocks on us
//     and a peer that joins gets live frames.
//   - Frames go out in real time: by their timestamps (IVF, Ogg, Y4M's rate)
//     or, for H.264 which has none, by arrival but never faster than --fps.
//   - A binding receives nothing before its first keyframe (the stream's
//     next one: a pipe cannot be asked for one; requests are logged).
//   - Closing the Media closes the input, which ends a read blocked on it.
//   - The end of the input ends the track and closes Media.Done; a stall
//     only stops the frames (logged), it never blocks Close.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
)

// SourceStdin names standard input (Config.Stdin) as a source.
const SourceStdin = "-"

// DefaultInputTimeout is how long Open waits for a stream source to connect
// and to show its format.
const DefaultInputTimeout = 15 * time.Second

// ErrStreamFormat is wrapped by the errors about a stream whose bytes are not
// in a format the source accepts.
var ErrStreamFormat = errors.New("unrecognised stream")

// IsStream reports whether a source name is a stream from another program:
// "-" (standard input), tcp://HOST:PORT or unix:PATH.
func IsStream(name string) bool {
	_, _, ok := streamAddr(name)
	return ok
}

// streamAddr splits a stream source name into a network and an address;
// network is "" for standard input.
func streamAddr(name string) (network, addr string, ok bool) {
	switch {
	case name == SourceStdin:
		return "", "", true
	case strings.HasPrefix(name, "tcp://"):
		return "tcp", strings.TrimPrefix(name, "tcp://"), true
	case strings.HasPrefix(name, "unix://"):
		return "unix", strings.TrimPrefix(name, "unix://"), true
	case strings.HasPrefix(name, "unix:"):
		return "unix", strings.TrimPrefix(name, "unix:"), true
	}
	return "", "", false
}

// streamFormat is a detected stream format.
type streamFormat string

const (
	formatH264 streamFormat = "H.264 Annex-B"
	formatIVF  streamFormat = "IVF (VP8)"
	formatY4M  streamFormat = "Y4M"
	formatOgg  streamFormat = "Ogg/Opus"
)

// wantedFormats says, in errors, what a source of a kind accepts.
func wantedFormats(audio bool) string {
	if audio {
		return "want Ogg/Opus (ffmpeg: -c:a libopus -f ogg -)"
	}
	return "want H.264 Annex-B (ffmpeg: -c:v libx264 -bf 0 -f h264 -; rpicam-vid --inline -o -), IVF/VP8 (-f ivf) or Y4M (-f yuv4mpegpipe)"
}

// sniff detects the format of a stream from its first bytes.
func sniff(br *bufio.Reader, audio bool) (streamFormat, error) {
	head, err := br.Peek(4)
	if len(head) == 0 {
		if err == nil || errors.Is(err, io.EOF) {
			return "", fmt.Errorf("%w: the stream ended before any data: %s", ErrStreamFormat, wantedFormats(audio))
		}
		return "", err
	}
	if len(head) < 4 {
		return "", fmt.Errorf("%w: the stream ended after %d bytes (% x): %s", ErrStreamFormat, len(head), head, wantedFormats(audio))
	}
	var f streamFormat
	switch {
	case string(head) == "OggS":
		f = formatOgg
	case string(head) == "DKIF":
		f = formatIVF
	case string(head) == "YUV4":
		f = formatY4M
	case bytes.HasPrefix(head, []byte{0, 0, 1}), bytes.Equal(head, startCode4):
		f = formatH264
	}
	if f == "" {
		what := ""
		switch more, _ := br.Peek(12); {
		case len(more) >= 8 && string(more[4:8]) == "ftyp":
			what = " (MP4 cannot be streamed)"
		case bytes.HasPrefix(more, []byte{0x1a, 0x45, 0xdf, 0xa3}):
			what = " (Matroska/WebM)"
		case bytes.HasPrefix(more, []byte("RIFF")):
			what = " (WAV)"
		case len(more) >= 4 && more[0] == 0x47:
			what = " (MPEG-TS?)"
		}
		return "", fmt.Errorf("%w: first bytes % x%s: %s", ErrStreamFormat, head, what, wantedFormats(audio))
	}
	if audio != (f == formatOgg) {
		return "", fmt.Errorf("%w: %s: %s", ErrStreamFormat, f, wantedFormats(audio))
	}
	return f, nil
}

// openInput connects a stream source: Config.Stdin for "-", else a socket,
// retrying a refused connection until ctx ends (the producer may still be
// starting).
func openInput(ctx context.Context, cfg Config, name string) (io.ReadCloser, error) {
	network, addr, _ := streamAddr(name)
	if network == "" {
		if cfg.Stdin == nil {
			return nil, errors.New("no standard input configured")
		}
		return cfg.Stdin, nil
	}
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, network, addr)
		if err == nil {
			return c, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connect: %w", err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// streamInput is an opened stream source and its detected format.
type streamInput struct {
	name   string
	rc     io.ReadCloser
	br     *bufio.Reader
	format streamFormat
	h264   *annexBReader
	ivf    *ivfReader
	y4m    *y4mReader
	ogg    *oggReader
}

// openStream connects the source, detects its format and reads its header
// (for H.264: up to its first SPS), all within cfg.InputTimeout and ctx.
func openStream(ctx context.Context, cfg Config, name string, audio bool) (*streamInput, error) {
	begin := time.Now()
	ctx, cancel := context.WithTimeout(ctx, cfg.InputTimeout)
	defer cancel()
	rc, err := openInput(ctx, cfg, name)
	if err != nil {
		return nil, err
	}
	in := &streamInput{name: name, rc: rc, br: bufio.NewReaderSize(rc, 1<<20)}
	done := make(chan error, 1)
	go func() { done <- in.readHeader(audio) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		rc.Close() // ends the read
		<-done
		err = fmt.Errorf("no %s stream header within %v (%w)", map[bool]string{false: "video", true: "audio"}[audio], time.Since(begin).Round(100*time.Millisecond), ctx.Err())
		if errors.Is(ctx.Err(), context.Canceled) {
			err = ctx.Err()
		}
		return nil, err
	}
	if err != nil {
		rc.Close()
		return nil, err
	}
	return in, nil
}

func (in *streamInput) readHeader(audio bool) error {
	f, err := sniff(in.br, audio)
	if err != nil {
		return err
	}
	in.format = f
	switch f {
	case formatH264:
		in.h264, err = newAnnexBReader(in.br)
	case formatIVF:
		in.ivf, err = newIVFReader(in.br)
	case formatY4M:
		in.y4m, err = newY4MReader(in.br)
	case formatOgg:
		in.ogg, err = newOggReader(in.br)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", f, err)
	}
	return nil
}

// Close closes the input; a read blocked on it returns.
func (in *streamInput) Close() error { return in.rc.Close() }

// openStreamTrack opens a stream source and makes its persistent track.
// newLive makes the live encoding pipeline of raw video (Y4M).
func openStreamTrack(ctx context.Context, cfg Config, name string, audio bool, streamID string, ended func(error), log *slog.Logger, newLive func(videoOpener) pipeline) (*track, error) {
	kind, what := webrtc.RTPCodecTypeVideo, "video input ("+name+")"
	if audio {
		kind, what = webrtc.RTPCodecTypeAudio, "audio input ("+name+")"
	}
	in, err := openStream(ctx, cfg, name, audio)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	log = log.With("input", name, "format", string(in.format))
	var (
		p      pipeline
		codecs []codecKey
		h264   byte
	)
	switch in.format {
	case formatH264:
		p = &streamPipe{in: &h264Stream{rd: in.h264, log: log}, key: keyH264, clock: 90000, fps: cfg.FPS, log: log}
		codecs, h264 = []codecKey{keyH264}, in.h264.profile.idc
		log = log.With("profile", in.h264.profile.String())
	case formatIVF:
		p = &streamPipe{in: ivfStream{in.ivf}, key: keyVP8, clock: 90000, fps: cfg.FPS, log: log}
		codecs = []codecKey{keyVP8}
	case formatOgg:
		p = &streamPipe{in: oggStream{in.ogg}, key: keyOpus, clock: audioRate, fps: cfg.FPS, log: log}
		codecs = []codecKey{keyOpus}
	case formatY4M:
		src := y4mStream{in.y4m, log}
		p = newLive(func() (videoSource, error) { return src, nil })
		codecs = []codecKey{keyVP8, keyH264}
		log = log.With("size", fmt.Sprintf("%dx%d", in.y4m.hdr.Width, in.y4m.hdr.Height))
	}
	log.Info(what + " detected")
	r := &streamRunner{pipe: p, in: in, what: what, ended: ended, log: log}
	t := newTrack(kind, kind.String(), streamID, codecs, r, log)
	t.h264, t.persistent = h264, true
	return t, nil
}

// encodedStream yields the frames of a stream sent as is. pts < 0 means
// the format has no timestamps.
type encodedStream interface {
	next() (frame []byte, pts time.Duration, key bool, err error)
}

type h264Stream struct {
	rd     *annexBReader
	warned bool
	log    *slog.Logger
}

func (s *h264Stream) next() ([]byte, time.Duration, bool, error) {
	au, err := s.rd.next()
	if err != nil {
		return nil, 0, false, err
	}
	if au.b && !s.warned {
		s.warned = true
		s.log.Warn("the H.264 input has B-frames, which WebRTC receivers show out of order: encode without them (x264: -bf 0 or -tune zerolatency)")
	}
	return au.data, -1, au.key, nil
}

type ivfStream struct{ rd *ivfReader }

func (s ivfStream) next() ([]byte, time.Duration, bool, error) {
	data, pts, err := s.rd.frame()
	return data, pts, err == nil && len(data) > 0 && data[0]&1 == 0, err
}

type oggStream struct{ rd *oggReader }

func (s oggStream) next() ([]byte, time.Duration, bool, error) {
	p, pts, err := s.rd.next()
	return p, pts, true, err
}

// y4mStream is a live video source reading a Y4M stream.
type y4mStream struct {
	rd  *y4mReader
	log *slog.Logger
}

func (s y4mStream) Read() (*image.YCbCr, error) {
	stall := time.AfterFunc(stallTimeout, func() { s.log.Warn(stallMessage) })
	err := s.rd.readFrame()
	stall.Stop()
	if err != nil {
		return nil, err
	}
	return s.rd.img, nil
}

// A stream with no frame for stallTimeout is logged as stalled.
const (
	stallTimeout = 5 * time.Second
	stallMessage = "input stalled: no frame for 5s; the track sends nothing until it resumes"
)

func (s y4mStream) Interval() time.Duration { return s.rd.hdr.interval() }

// Close does nothing: the input is closed by the streamRunner.
func (s y4mStream) Close() error { return nil }

// pacer times the frames of a stream.
type pacer struct {
	interval   time.Duration // minimum spacing of frames without timestamps
	have       bool
	base, last time.Time
	pts0       time.Duration
	throttled  int // frames in a row held back by interval
}

// pacerSlack lets frames without timestamps come 2% faster than --fps, so a
// live source whose clock runs a little fast never builds up delay.
const pacerSlack = 50

// at returns when a frame read at now with pts (negative: none) is due.
// Times only increase.
func (p *pacer) at(now time.Time, pts time.Duration) time.Time {
	var at time.Time
	switch {
	case !p.have:
		at, p.base, p.pts0 = now, now, pts
	case pts < 0:
		at = now
		if min := p.last.Add(p.interval - p.interval/pacerSlack); min.After(at) {
			at = min
			p.throttled++
		} else {
			p.throttled = 0
		}
	default:
		at = p.base.Add(pts - p.pts0)
		if d := at.Sub(now); d > time.Second || d < -time.Second {
			// A jump in the timestamps, or a producer far behind them:
			// start over from now rather than wait or burst.
			p.base, p.pts0, at = now, pts, now
		}
	}
	if p.have && !at.After(p.last) {
		at = p.last.Add(time.Millisecond)
	}
	p.have, p.last = true, at
	return at
}

// streamPipe sends the frames of an encoded stream as they are.
type streamPipe struct {
	in    encodedStream
	key   codecKey
	clock int
	fps   int
	log   *slog.Logger
}

func (p *streamPipe) run(stop <-chan struct{}, t *track) error {
	out := newRTPOut(p.key)
	pace := pacer{interval: time.Second / time.Duration(max(p.fps, 1))}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var (
		subs        []binding
		version     = noVersion
		ready       = map[string]bool{} // bindings that have had a keyframe
		start       time.Time
		keyRequests int
		warnedRate  bool
		stalled     atomic.Bool
	)
	for {
		watch := time.AfterFunc(stallTimeout, func() {
			stalled.Store(true)
			p.log.Warn(stallMessage)
		})
		data, pts, key, err := p.in.next()
		watch.Stop()
		if err != nil {
			return err
		}
		if stalled.Swap(false) {
			p.log.Info("input resumed")
		}
		at := pace.at(time.Now(), pts)
		if start.IsZero() {
			start = at
		}
		if !warnedRate && pace.throttled > 5*p.fps {
			warnedRate = true
			p.log.Warn("the input comes in bursts or faster than real time: frames are held back to --fps (ffmpeg: add -flush_packets 1; rpicam-vid: --flush; a source faster than --fps: raise --fps)", "fps", p.fps)
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(time.Until(at))
		select {
		case <-stop:
			return errStopped
		case <-timer.C:
		}
		if all, ver, changed := t.subscribers(version); changed {
			subs, version = all[p.key], ver
			live := map[string]bool{}
			for _, b := range subs {
				live[b.id] = ready[b.id]
			}
			ready = live
		}
		if p.key != keyOpus && keyRequested(t) {
			keyRequests++
			if keyRequests == 1 {
				p.log.Warn("a receiver needs a keyframe (it joined, or lost packets), which a stream from another program cannot make on demand: it waits for the input's next one (make them frequent: rpicam-vid --intra 30, ffmpeg -g 30)")
			} else {
				p.log.Info("keyframe requested by a receiver; waiting for the input's next one", "requests", keyRequests)
			}
		}
		send := subs
		if key {
			for id := range ready {
				ready[id] = true
			}
		} else {
			send = nil
			for _, b := range subs {
				if ready[b.id] {
					send = append(send, b)
				}
			}
		}
		t.counters.frames.Add(1)
		t.counters.bytes.Add(int64(len(data)))
		d := at.Sub(start)
		ts := uint32(int64(d/time.Microsecond) * int64(p.clock) / 1e6)
		out.send(send, data, ts, at)
	}
}

// keyRequested reports (and consumes) a receiver's request for a keyframe
// since the last call, at most one per keyFrameInterval.
func keyRequested(t *track) bool { return t.takeKeyFrame(time.Now()) }

// streamRunner runs the pipeline of a stream track: it closes the input when
// the pipeline is stopped (so that a blocked read returns) and reports the
// end of the input.
type streamRunner struct {
	pipe  pipeline
	in    *streamInput
	what  string // "video input (-)" and the like, for logs and errors
	ended func(error)
	log   *slog.Logger
}

func (s *streamRunner) run(stop <-chan struct{}, t *track) error {
	finished := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-stop:
		case <-finished:
		}
		s.in.Close()
	}()
	err := s.pipe.run(stop, t)
	close(finished)
	wg.Wait()
	select {
	case <-stop:
		return nil // Media.Close
	default:
	}
	switch {
	case errors.Is(err, io.EOF):
		s.log.Info(s.what + " ended")
		s.ended(nil)
		return nil
	case errors.Is(err, io.ErrUnexpectedEOF):
		s.log.Warn(s.what + " ended in the middle of a frame")
		s.ended(nil)
		return nil
	}
	err = fmt.Errorf("%s: %s: %w", s.what, s.in.format, err)
	s.ended(err)
	return err
}
