package capture

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
)

// binding is one PeerConnection's subscription to a track.
type binding struct {
	id    string
	ssrc  webrtc.SSRC
	pt    webrtc.PayloadType
	write webrtc.TrackLocalWriter
}

// pipeline produces a track's media for the codecs its bindings use. run
// returns when stop is closed (nil) or when the source fails. It reads the
// current subscribers with track.subscribers on every frame.
type pipeline interface {
	run(stop <-chan struct{}, t *track) error
}

// track is the webrtc.TrackLocal of this package: one media source shared by
// every PeerConnection it is bound to, with one encoder per codec in use.
type track struct {
	id, streamID string
	kind         webrtc.RTPCodecType
	codecs       []codecKey // what the pipeline can produce, preferred first
	pipe         pipeline
	log          *slog.Logger

	// lifeMu serialises starting and stopping the pipeline goroutine. It is
	// never taken by the pipeline itself.
	lifeMu sync.Mutex
	stop   chan struct{} // closed to stop the running pipeline
	done   chan struct{} // closed when the pipeline goroutine has returned

	mu       sync.Mutex
	subs     map[codecKey][]binding
	version  uint64 // incremented on every change of subs
	closed   bool
	keyReq   bool      // a keyframe was requested and not yet produced
	lastKey  time.Time // when the last keyframe was forced
	counters counters
	level    audioLevel // live audio only (level.go)
}

// counters are observed by tests and benchmarks.
type counters struct {
	encoders atomic.Int64 // encoders created
	frames   atomic.Int64 // frames encoded (or read from a file), all codecs
	forced   atomic.Int64 // keyframes forced on request
	bytes    atomic.Int64 // payload bytes produced, all codecs
}

// keyFrameInterval is the minimum time between two forced keyframes;
// requests in between are coalesced into the next one.
const keyFrameInterval = 500 * time.Millisecond

func newTrack(kind webrtc.RTPCodecType, id, streamID string, codecs []codecKey, p pipeline, log *slog.Logger) *track {
	return &track{
		id: id, streamID: streamID, kind: kind, codecs: codecs, pipe: p,
		log:  log.With("track", id),
		subs: map[codecKey][]binding{},
	}
}

// ID implements webrtc.TrackLocal.
func (t *track) ID() string { return t.id }

// RID implements webrtc.TrackLocal.
func (t *track) RID() string { return "" }

// StreamID implements webrtc.TrackLocal.
func (t *track) StreamID() string { return t.streamID }

// Kind implements webrtc.TrackLocal.
func (t *track) Kind() webrtc.RTPCodecType { return t.kind }

// Bind implements webrtc.TrackLocal: it picks the first negotiated codec the
// track can produce, subscribes the binding to that codec's pipeline and
// starts the pipeline if it is not running.
func (t *track) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	params, key, ok := chooseCodec(ctx.CodecParameters(), t.codecs)
	if !ok {
		return webrtc.RTPCodecParameters{}, fmt.Errorf("track %s: %w: %s", t.id, webrtc.ErrUnsupportedCodec, mismatch(ctx.CodecParameters(), t.codecs))
	}
	b := binding{id: ctx.ID(), ssrc: ctx.SSRC(), pt: params.PayloadType, write: ctx.WriteStream()}

	t.lifeMu.Lock()
	defer t.lifeMu.Unlock()
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return webrtc.RTPCodecParameters{}, ErrClosed
	}
	if len(t.subs[key]) > 0 {
		t.keyReq = true // the new receiver needs a keyframe to start decoding
	}
	t.subs[key] = append(t.subs[key], b)
	t.version++
	t.mu.Unlock()

	t.log.Debug("bound", "binding", b.id, "codec", params.MimeType, "pt", params.PayloadType)
	t.startLocked()
	return params, nil
}

// Unbind implements webrtc.TrackLocal. The pipeline stops when its last
// binding goes; Unbind does not wait for it (Media.Close does).
func (t *track) Unbind(ctx webrtc.TrackLocalContext) error {
	t.lifeMu.Lock()
	defer t.lifeMu.Unlock()
	t.mu.Lock()
	found, empty := t.removeLocked(ctx.ID())
	closed := t.closed
	t.mu.Unlock()
	if !found {
		if closed { // Media.Close already dropped every binding
			return nil
		}
		return webrtc.ErrUnbindFailed
	}
	t.log.Debug("unbound", "binding", ctx.ID())
	if empty && t.stop != nil {
		close(t.stop)
		t.stop = nil
	}
	return nil
}

func (t *track) removeLocked(id string) (found, empty bool) {
	for key, bs := range t.subs {
		for i := range bs {
			if bs[i].id != id {
				continue
			}
			bs = append(bs[:i:i], bs[i+1:]...)
			if len(bs) == 0 {
				delete(t.subs, key)
			} else {
				t.subs[key] = bs
			}
			t.version++
			return true, len(t.subs) == 0
		}
	}
	return false, len(t.subs) == 0
}

// startLocked starts the pipeline goroutine unless it runs. A pipeline that
// is still stopping is waited for first, so that a device is never opened
// twice. Callers hold lifeMu.
func (t *track) startLocked() {
	if t.stop != nil {
		return
	}
	if t.done != nil {
		<-t.done
	}
	stop, done := make(chan struct{}), make(chan struct{})
	t.stop, t.done = stop, done
	go func() {
		defer close(done)
		if err := t.pipe.run(stop, t); err != nil && !errors.Is(err, errStopped) {
			t.log.Error("media pipeline stopped", "err", err)
		}
	}()
}

// close stops the pipeline, waits for it and refuses further bindings.
func (t *track) close() {
	t.lifeMu.Lock()
	defer t.lifeMu.Unlock()
	t.mu.Lock()
	t.closed = true
	t.subs = map[codecKey][]binding{}
	t.version++
	t.mu.Unlock()
	if t.stop != nil {
		close(t.stop)
		t.stop = nil
	}
	if t.done != nil {
		<-t.done
	}
}

// subscribers returns the current bindings by codec if they changed since
// version have, with the new version. The returned map is a copy.
func (t *track) subscribers(have uint64) (map[codecKey][]binding, uint64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if have == t.version {
		return nil, have, false
	}
	out := make(map[codecKey][]binding, len(t.subs))
	for k, bs := range t.subs {
		out[k] = append([]binding(nil), bs...)
	}
	return out, t.version, true
}

// RequestKeyFrame asks the video encoders of the track for a keyframe, as a
// receiver's PLI or FIR does. Requests are coalesced: at most one keyframe
// is forced per frame and per 500 ms; a request within 500 ms of the last
// forced keyframe is served when that time has passed. Tracks sent as is
// from a file ignore it.
func (t *track) RequestKeyFrame() {
	t.mu.Lock()
	t.keyReq = true
	t.mu.Unlock()
}

// takeKeyFrame reports whether the frame about to be encoded at now must be
// a keyframe, and consumes the request if so.
func (t *track) takeKeyFrame(now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.keyReq || now.Sub(t.lastKey) < keyFrameInterval {
		return false
	}
	t.keyReq = false
	t.lastKey = now
	t.counters.forced.Add(1)
	return true
}

// KeyFrameRequester is implemented by the video tracks of [Media]: the peer
// calls RequestKeyFrame when a receiver sends PLI or FIR.
type KeyFrameRequester interface {
	RequestKeyFrame()
}

var (
	_ webrtc.TrackLocal = (*track)(nil)
	_ KeyFrameRequester = (*track)(nil)
)

// errStopped is returned by sources interrupted by a stop request.
var errStopped = errors.New("stopped")

// noVersion is a subscriber version no track has: a pipeline starting with
// it reads the subscribers on its first frame.
const noVersion = ^uint64(0)
