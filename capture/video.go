package capture

import (
	"fmt"
	"image"
	"log/slog"
	"time"

	"github.com/videochat/videochat/capture/i420"
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
// camera): one source, and per codec in use up to maxLayers encoders (see
// layers.go).
type liveVideo struct {
	open     videoOpener
	encoders map[codecKey]encoderFactory
	fps      int // nominal rate for encoders of self-paced sources
	// ceiling is the highest encoder target (--video-bitrate), floor the
	// lowest; estimate gives a binding's bandwidth estimate (nil: none,
	// every binding gets the ceiling).
	ceiling, floor int
	estimate       func(ssrc uint32) (int, bool)
	log            *slog.Logger
}

func (v *liveVideo) run(stop <-chan struct{}, t *track) error {
	src, err := v.open()
	if err != nil {
		return err
	}
	defer src.Close()
	st := &videoState{v: v, t: t, sets: map[codecKey]*layerSet{}, version: noVersion}
	defer st.closeAll()

	// A self-paced source's frames are due at fixed times (pace.go); a
	// late pipeline skips to the newest due frame (a late video frame is
	// worth nothing), and the frame's pts is the time it is read.
	var pace *framePacer
	fps := v.fps
	if iv := src.Interval(); iv > 0 {
		pace = newFramePacer(iv, 0)
		defer pace.stop()
		fps = int(time.Second / iv)
	}
	start := time.Now()
	for {
		skipped, err := pace.waitOrStop(stop)
		if err != nil {
			return nil
		}
		woke := time.Now()
		img, err := src.Read()
		if err != nil {
			return err
		}
		now := time.Now()
		if err := st.encodeAll(img, now.Sub(start), now, fps); err != nil {
			return err
		}
		if skipped > 0 {
			v.log.Debug("video pipeline late: frames skipped", "skipped", skipped, "read_ms", now.Sub(woke).Milliseconds(), "encode_ms", time.Since(now).Milliseconds())
		}
	}
}

// videoState is the per-run state of a live video pipeline.
type videoState struct {
	v       *liveVideo
	t       *track
	sets    map[codecKey]*layerSet
	version uint64
	half    *image.YCbCr // the frame at half size, when a layer needs it
}

// encodeAll encodes img once per codec and layer in use and sends each
// layer's frame to the bindings on it.
func (s *videoState) encodeAll(img *image.YCbCr, pts time.Duration, now time.Time, fps int) error {
	if subs, ver, changed := s.t.subscribers(s.version); changed {
		s.version = ver
		for key, set := range s.sets {
			if _, ok := subs[key]; !ok {
				set.closeAll()
				delete(s.sets, key)
				s.v.log.Debug("encoders stopped", "codec", key)
			}
		}
		for key, bs := range subs {
			set := s.sets[key]
			if set == nil {
				set = newLayerSet(key)
				s.sets[key] = set
			}
			set.sync(bs)
		}
	}
	all, ssrcs := s.t.takeKeyRequests()
	evaluated := false
	t0 := time.Now()
	for _, set := range s.sets {
		if now.Sub(set.lastEval) >= layerEvery {
			set.evaluate(s.v, img.Rect, now)
			set.lastEval = now
			evaluated = true
		}
		if all {
			set.requestKey(0, true, now)
		}
		for _, ssrc := range ssrcs {
			set.requestKey(ssrc, false, now)
		}
		set.serveDeferredKeys(now)
	}
	tEval := time.Since(t0)
	var tEnc, tSend time.Duration
	defer func() {
		if tot := time.Since(t0); tot > 50*time.Millisecond { // a loaded machine (see BENCHMARKS.md, issue 13)
			s.v.log.Debug("slow video frame", "eval_ms", tEval.Milliseconds(), "encode_ms", tEnc.Milliseconds(), "send_ms", tSend.Milliseconds(), "total_ms", tot.Milliseconds())
		}
	}()
	halved := false
	ts := uint32(int64(pts) * 90000 / int64(time.Second))
	for key, set := range s.sets {
		for i, sl := range set.slots {
			if sl == nil {
				continue
			}
			sl.frameN++
			if sl.rung.fpsDiv > 1 && sl.frameN%sl.rung.fpsDiv != 0 {
				continue
			}
			in := img
			if sl.rung.div == 2 {
				if !halved {
					s.halve(img)
					halved = true
				}
				in = s.half
			}
			if err := s.encoder(key, i, sl, in, fps); err != nil {
				return err
			}
			if sl.set != sl.target {
				if err := sl.enc.SetBitrate(sl.target); err != nil {
					return err
				}
				sl.set = sl.target
			}
			forceReq := sl.keyReq && now.Sub(sl.lastKey) >= keyFrameInterval
			forceUnsent := sl.keyUnsent && now.Sub(sl.lastUnsentKey) >= unsentKeyInterval // layers.go
			force := forceReq || forceUnsent
			te := time.Now()
			data, key, err := sl.enc.Encode(in, pts, force)
			tEnc += time.Since(te)
			if err != nil {
				return err
			}
			if forceReq {
				sl.keyReq = false
				sl.lastKey = now
			}
			if forceUnsent {
				sl.keyUnsent = false
				sl.lastUnsentKey = now
			}
			if force {
				s.t.counters.forced.Add(1)
			}
			s.t.counters.frames.Add(1)
			if len(data) == 0 {
				continue
			}
			if key {
				sl.keyReq, sl.keyUnsent = false, false
				for _, st := range set.binds {
					if st.want == i && st.cur != i {
						st.cur = i
					}
				}
			}
			s.t.counters.bytes.Add(int64(len(data)))
			ts0 := time.Now()
			set.send(i, data, key, ts, now)
			tSend += time.Since(ts0)
		}
	}
	if evaluated {
		s.publish()
	}
	return nil
}

// halve fills s.half with img at half size.
func (s *videoState) halve(img *image.YCbCr) {
	w, h := (img.Rect.Dx()/2)&^1, (img.Rect.Dy()/2)&^1
	if s.half == nil || s.half.Rect.Dx() != w || s.half.Rect.Dy() != h {
		s.half = newI420(w, h)
	}
	i420.Halve(s.half, img)
}

// publish hands the bindings' layers and targets to the track, for Stats.
func (s *videoState) publish() {
	out := map[uint32]sendInfo{}
	for _, set := range s.sets {
		set.info(out)
	}
	s.t.setSendInfo(out)
}

// encoder makes sure slot i of codec key has an encoder for the frame's
// size. A lower frame rate keeps the encoder: frames are skipped and the
// VP8 encoder takes each frame's duration from the timestamps.
func (s *videoState) encoder(key codecKey, i int, sl *slot, img *image.YCbCr, fps int) error {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	if sl.enc != nil && sl.w == w && sl.h == h {
		return nil
	}
	factory, ok := s.v.encoders[key]
	if !ok {
		return fmt.Errorf("no encoder for %s", key)
	}
	enc, err := factory(encoderSettings{Width: w, Height: h, FPS: fps, Bitrate: sl.target})
	if err != nil {
		return err
	}
	s.t.counters.encoders.Add(1)
	sl.close()
	sl.enc, sl.w, sl.h, sl.set = enc, w, h, sl.target
	sl.keyReq = false // a new encoder starts with a keyframe
	s.v.log.Debug("encoder started", "codec", key, "layer", i, "width", w, "height", h, "fps", fps, "bitrate", sl.target)
	return nil
}

func (s *videoState) closeAll() {
	for key, set := range s.sets {
		set.closeAll()
		delete(s.sets, key)
	}
}
