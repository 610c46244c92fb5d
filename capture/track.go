package capture

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
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
	// h264 is the profile_idc of the H.264 the track sends as is (0: the
	// live encoder's constrained baseline).
	h264 byte
	// persistent tracks (streams from other programs) run their pipeline
	// once, from Open to the end of the stream or Close, bound or not: a
	// stream cannot be reopened.
	persistent bool

	// lifeMu serialises starting and stopping the pipeline goroutine. It is
	// never taken by the pipeline itself.
	lifeMu sync.Mutex
	stop   chan struct{} // closed to stop the running pipeline
	done   chan struct{} // closed when the pipeline goroutine has returned

	mu       sync.Mutex
	subs     map[codecKey][]binding
	version  uint64 // incremented on every change of subs
	closed   bool
	keyAll   bool      // a keyframe was requested for every layer
	keySSRC  []uint32  // keyframe requests by the receiving binding's SSRC
	lastKey  time.Time // when takeKeyFrame last granted a keyframe
	sent     map[uint32]sendInfo
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

// keyFrameInterval is the minimum time between two forced keyframes of
// one layer; requests in between are coalesced into the next one.
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
	params, key, ok := chooseCodec(ctx.CodecParameters(), t.codecs, t.h264)
	if !ok && t.persistent && len(ctx.CodecParameters()) > 0 {
		// A stream sent as is cannot be converted for this receiver.
		// Failing Bind would fail the whole negotiation (audio and the
		// receiver's own media too): bind to no pipeline instead, so this
		// receiver alone gets no video from us.
		t.log.Warn("a receiver cannot decode this stream: it gets no "+t.kind.String()+" from us", "binding", ctx.ID(),
			"why", mismatch(ctx.CodecParameters(), t.codecs, t.h264))
		params, key, ok = ctx.CodecParameters()[0], keyUnsendable, true
	}
	if !ok {
		return webrtc.RTPCodecParameters{}, fmt.Errorf("track %s: %w: %s", t.id, webrtc.ErrUnsupportedCodec, mismatch(ctx.CodecParameters(), t.codecs, t.h264))
	}
	b := binding{id: ctx.ID(), ssrc: ctx.SSRC(), pt: params.PayloadType, write: ctx.WriteStream()}

	t.lifeMu.Lock()
	defer t.lifeMu.Unlock()
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return webrtc.RTPCodecParameters{}, ErrClosed
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
	if empty && t.stop != nil && !t.persistent {
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
	if t.stop != nil || (t.persistent && t.done != nil) {
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

// start starts the pipeline of a persistent track.
func (t *track) start() {
	t.lifeMu.Lock()
	defer t.lifeMu.Unlock()
	t.startLocked()
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

// RequestKeyFrame asks every layer of the video encoders for a keyframe.
// Requests are coalesced: at most one keyframe is forced per layer and per
// 500 ms; a request within 500 ms of the last forced keyframe is served
// when that time has passed. Tracks sent as is from a file ignore it.
func (t *track) RequestKeyFrame() {
	t.mu.Lock()
	t.keyAll = true
	t.mu.Unlock()
}

// RequestKeyFrameFor asks for a keyframe on the layer the binding with
// this SSRC (the receiver's PLI or FIR media SSRC) receives: the other
// layers are not touched. Besides the per-layer limit of RequestKeyFrame,
// one binding is served at most once per second.
func (t *track) RequestKeyFrameFor(ssrc uint32) {
	t.mu.Lock()
	if len(t.keySSRC) < 64 && !slices.Contains(t.keySSRC, ssrc) {
		t.keySSRC = append(t.keySSRC, ssrc)
	}
	t.mu.Unlock()
}

// takeKeyRequests returns and clears the pending keyframe requests.
func (t *track) takeKeyRequests() (all bool, ssrcs []uint32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	all, ssrcs = t.keyAll, t.keySSRC
	t.keyAll, t.keySSRC = false, nil
	return all, ssrcs
}

// takeKeyFrame is for pipelines without layers (media sent as is): it
// reports whether a keyframe was requested (for all or for any binding)
// and keyFrameInterval has passed since the last one it granted, and then
// consumes the requests. Live video uses takeKeyRequests and layers.go.
func (t *track) takeKeyFrame(now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if (!t.keyAll && len(t.keySSRC) == 0) || now.Sub(t.lastKey) < keyFrameInterval {
		return false
	}
	t.keyAll, t.keySSRC = false, nil
	t.lastKey = now
	t.counters.forced.Add(1)
	return true
}

// setSendInfo replaces what SendStats reports.
func (t *track) setSendInfo(m map[uint32]sendInfo) {
	t.mu.Lock()
	t.sent = m
	t.mu.Unlock()
}

// SendStats reports the encoder target (bits/s) and the layer (0 = best)
// that the binding with this SSRC receives; ok is false for unknown SSRCs
// and tracks without layers.
func (t *track) SendStats(ssrc uint32) (targetBps, layer int, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	si, ok := t.sent[ssrc]
	return si.Target, si.Layer, ok
}

// KeyFrameRequester is implemented by the video tracks of [Media]: the peer
// calls RequestKeyFrame when a receiver sends PLI or FIR.
type KeyFrameRequester interface {
	RequestKeyFrame()
	RequestKeyFrameFor(ssrc uint32)
}

// SendStatser is implemented by the video tracks of [Media]: what one
// binding (by SSRC) is sent.
type SendStatser interface {
	SendStats(ssrc uint32) (targetBps, layer int, ok bool)
}

var (
	_ webrtc.TrackLocal = (*track)(nil)
	_ KeyFrameRequester = (*track)(nil)
	_ SendStatser       = (*track)(nil)
)

// keyUnsendable collects the bindings of a persistent track that negotiated
// no codec the track can send; no pipeline sends to it.
const keyUnsendable codecKey = "unsendable"

// errStopped is returned by sources interrupted by a stop request.
var errStopped = errors.New("stopped")

// noVersion is a subscriber version no track has: a pipeline starting with
// it reads the subscribers on its first frame.
const noVersion = ^uint64(0)
