package capture

import (
	"fmt"
	"image"
	"log/slog"
	"time"
)

// videoEncoder compresses raw frames for one codec. Implementations: the
// libvpx VP8 wrapper and OpenH264. They are used by one goroutine.
type videoEncoder interface {
	// Encode compresses img shown at pts (from the pipeline's start). The
	// result is valid until the next call; it may be empty when the rate
	// control drops the frame. key reports a keyframe.
	Encode(img *image.YCbCr, pts time.Duration, forceKey bool) (data []byte, key bool, err error)
	// SetBitrate changes the target bitrate in bits/s.
	SetBitrate(bps int) error
	Close() error
}

// encoderSettings are what a live video pipeline passes to its encoders.
type encoderSettings struct {
	Width, Height, FPS, Bitrate int
}

// encoderFactory builds the encoder of one codec; swapping a factory swaps
// the encoder implementation.
type encoderFactory func(s encoderSettings) (videoEncoder, error)

// defaultEncoders are the live video encoders, by codec.
func defaultEncoders() map[codecKey]encoderFactory {
	return map[codecKey]encoderFactory{
		keyVP8: func(s encoderSettings) (videoEncoder, error) {
			return newVP8Encoder(defaultVP8Params(s.Width, s.Height, s.FPS, s.Bitrate))
		},
		keyH264: func(s encoderSettings) (videoEncoder, error) {
			return newH264Encoder(defaultH264Params(s.Width, s.Height, s.FPS, s.Bitrate))
		},
	}
}

// liveVideo is the pipeline of raw video sources (test pattern, Y4M file,
// camera): one source, one encoder per codec in use.
type liveVideo struct {
	open     videoOpener
	encoders map[codecKey]encoderFactory
	fps      int // nominal rate for encoders of self-paced sources
	bitrate  int
	log      *slog.Logger
}

// activeEncoder is an encoder with the RTP state of its codec.
type activeEncoder struct {
	enc  videoEncoder
	out  *rtpOut
	w, h int
}

func (v *liveVideo) run(stop <-chan struct{}, t *track) error {
	src, err := v.open()
	if err != nil {
		return err
	}
	defer src.Close()
	st := &videoState{v: v, t: t, active: map[codecKey]*activeEncoder{}, version: noVersion}
	defer st.closeAll()

	var tick <-chan time.Time
	fps := v.fps
	if iv := src.Interval(); iv > 0 {
		ticker := time.NewTicker(iv)
		defer ticker.Stop()
		tick = ticker.C
		fps = int(time.Second / iv)
	}
	start := time.Now()
	for {
		if err := wait(stop, tick); err != nil {
			return nil
		}
		img, err := src.Read()
		if err != nil {
			return err
		}
		now := time.Now()
		if err := st.encodeAll(img, now.Sub(start), now, fps); err != nil {
			return err
		}
	}
}

// wait blocks until the next tick (or returns at once when tick is nil) and
// returns errStopped once stop is closed.
func wait(stop <-chan struct{}, tick <-chan time.Time) error {
	if tick == nil {
		select {
		case <-stop:
			return errStopped
		default:
			return nil
		}
	}
	select {
	case <-stop:
		return errStopped
	case <-tick:
		return nil
	}
}

// videoState is the per-run state of a live video pipeline.
type videoState struct {
	v       *liveVideo
	t       *track
	active  map[codecKey]*activeEncoder
	subs    map[codecKey][]binding
	version uint64
}

// encodeAll encodes img once per codec in use and sends it to that codec's
// bindings.
func (s *videoState) encodeAll(img *image.YCbCr, pts time.Duration, now time.Time, fps int) error {
	if subs, ver, changed := s.t.subscribers(s.version); changed {
		s.subs, s.version = subs, ver
		s.dropUnused()
	}
	force := s.t.takeKeyFrame(now)
	ts := uint32(int64(pts) * 90000 / int64(time.Second))
	for key, bs := range s.subs {
		a, err := s.encoder(key, img, fps)
		if err != nil {
			return err
		}
		data, _, err := a.enc.Encode(img, pts, force)
		if err != nil {
			return err
		}
		s.t.counters.frames.Add(1)
		if len(data) == 0 {
			continue
		}
		s.t.counters.bytes.Add(int64(len(data)))
		a.out.send(bs, data, ts)
	}
	return nil
}

// encoder returns the running encoder for key, (re)creating it for the
// frame's size.
func (s *videoState) encoder(key codecKey, img *image.YCbCr, fps int) (*activeEncoder, error) {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	a := s.active[key]
	if a != nil && a.w == w && a.h == h {
		return a, nil
	}
	factory, ok := s.v.encoders[key]
	if !ok {
		return nil, fmt.Errorf("no encoder for %s", key)
	}
	enc, err := factory(encoderSettings{Width: w, Height: h, FPS: fps, Bitrate: s.v.bitrate})
	if err != nil {
		return nil, err
	}
	s.t.counters.encoders.Add(1)
	out := newRTPOut(key)
	if a != nil { // size change: keep the RTP sequence going
		a.enc.Close()
		out = a.out
	}
	a = &activeEncoder{enc: enc, out: out, w: w, h: h}
	s.active[key] = a
	s.v.log.Debug("encoder started", "codec", key, "width", w, "height", h, "fps", fps)
	return a, nil
}

// dropUnused closes the encoders of codecs that lost their last binding.
func (s *videoState) dropUnused() {
	for key, a := range s.active {
		if _, ok := s.subs[key]; !ok {
			a.enc.Close()
			delete(s.active, key)
			s.v.log.Debug("encoder stopped", "codec", key)
		}
	}
}

func (s *videoState) closeAll() {
	for key, a := range s.active {
		a.enc.Close()
		delete(s.active, key)
	}
}
