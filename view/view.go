// Package view decodes the room's remote video and keeps one tile per
// remote peer for the window and terminal renderers (view/window,
// view/term) to show.
//
// The path of a frame, top to bottom:
//
//	peer → Sink(rt).WriteRTP        (the track's reading goroutine)
//	     → assembler: reorder, whole frames, drop until key frame
//	     → frames channel (bounded: a flood drops frames, counted)
//	     → decoder goroutine: decode.Decoder, shrink >1080p, sender time
//	     → tile queue (bounded)      ← Tiles(now) picks what to show,
//	                                   held until the audio clock reaches it
//
// Invariants:
//   - Each Sink owns one decoder goroutine and one decoder; Close stops the
//     goroutine and frees the decoder before it returns.
//   - A tile exists while its peer is in the call (SetPresent) or has an
//     open video sink; the order of tiles is by name, then peer id, so
//     layouts are stable. A peer without video is its name on a dark tile.
//   - A tile whose last decoded frame is older than Config.StaleAfter shows
//     no picture (the renderer draws the name on a dark tile).
//   - A Tile's Frame may be read until the next call of Tiles: Tiles has one
//     caller, the renderer. Frames that left a tile before that call
//     (replaced, dropped from the queue unseen) go to the tile's few spare
//     pictures, which its decoder writes the next frames into, so a steady
//     stream allocates no pictures.
//   - Key frames are requested (PLI) when decoding cannot proceed, at most
//     once per keyRequestInterval per track.
//   - Nothing here blocks the caller of WriteRTP beyond a short mutex.
package view

import (
	"image"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// AudioClock tells, for a remote peer, which instant of the sender's wall
// clock is being heard now (playback's Player implements it). Video of
// that peer is held until its sender time reaches it.
type AudioClock interface {
	SenderTimeNow(peerID string) (time.Time, bool)
}

// Config configures a View.
type Config struct {
	// AudioClock, when set, holds video back for lip sync (nil: show frames
	// as soon as they are decoded).
	AudioClock AudioClock
	// StaleAfter: a tile without a new frame for this long shows its name
	// on a dark tile (default 1 s).
	StaleAfter time.Duration
	// MaxHold bounds how long a frame may wait for the audio clock
	// (default 500 ms); past it the frame is shown anyway.
	MaxHold time.Duration
	Logger  *slog.Logger
	// Now is the clock (default time.Now); tests replace it.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.StaleAfter <= 0 {
		c.StaleAfter = time.Second
	}
	if c.MaxHold <= 0 {
		c.MaxHold = 500 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// View is the set of tiles of a call.
type View struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	tiles   map[string]*tile // by peer id
	version uint64           // changes when tiles come or go, or a State changes
	gone    Counters         // counters of tiles that went

	display  atomic.Int64 // the renderer's display delay (display.go)
	decoders atomic.Int64 // open decoders (for leak checks)
	sinks    atomic.Int64 // open sinks
}

// New returns an empty View.
func New(cfg Config) *View {
	cfg = cfg.withDefaults()
	return &View{cfg: cfg, log: cfg.Logger, tiles: map[string]*tile{}}
}

// queuedFrame is a decoded frame waiting to be shown.
type queuedFrame struct {
	img     *image.YCbCr
	sender  time.Time // sender wall clock of the frame (zero: unknown)
	decoded time.Time
	held    bool
}

// maxQueue bounds the decoded frames a tile holds for lip sync.
const maxQueue = 16

// tile is one remote peer's place in the grid.
type tile struct {
	id, name string
	stats    counters

	mu      sync.Mutex
	sinks   int
	present bool // in the call, with or without video (SetPresent)
	queue   []queuedFrame
	shown   *image.YCbCr
	seq     uint64    // increments with each newly shown frame
	lastNew time.Time // when the last frame was decoded
	codec   string
	state   State          // SetState (state.go)
	spare   []*image.YCbCr // pictures no one reads, for the decoder to reuse
}

// maxSpare bounds a tile's spare pictures.
const maxSpare = 4

// reusable returns a spare picture for the decoder, or nil.
func (t *tile) reusable() *image.YCbCr {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(t.spare)
	if n == 0 {
		return nil
	}
	img := t.spare[n-1]
	t.spare[n-1] = nil
	t.spare = t.spare[:n-1]
	return img
}

// recycleLocked keeps img, which no one reads any more, as a spare. t.mu
// is held.
func (t *tile) recycleLocked(img *image.YCbCr) {
	if img != nil && len(t.spare) < maxSpare {
		t.spare = append(t.spare, img)
	}
}

// Tile is what a renderer draws for one remote peer.
type Tile struct {
	ID, Name string
	// Frame is the picture to show, nil when the peer's video stopped or
	// has not started (draw the name on a dark tile). Never modified.
	Frame *image.YCbCr
	// Seq changes whenever Frame does, so a renderer can skip uploads.
	Seq uint64
	// State is what the caption shows (state.go); with State.CameraOff
	// Frame is nil.
	State State
}

// Tiles returns the tiles to draw now, in layout order, and a version that
// changes when tiles come or go or a tile's State changes. It applies lip sync: a frame is shown once
// the peer's audio clock has reached its sender time. Its one caller may
// read the frames it returns until it calls Tiles again (then the pictures
// may be reused).
func (v *View) Tiles() ([]Tile, uint64) {
	now := v.cfg.Now()
	v.mu.Lock()
	ts := make([]*tile, 0, len(v.tiles))
	for _, t := range v.tiles {
		ts = append(ts, t)
	}
	ver := v.version
	v.mu.Unlock()
	sort.Slice(ts, func(i, j int) bool {
		if ts[i].name != ts[j].name {
			return ts[i].name < ts[j].name
		}
		return ts[i].id < ts[j].id
	})
	out := make([]Tile, len(ts))
	for i, t := range ts {
		out[i] = v.present(t, now)
	}
	return out, ver
}

// present picks the frame t shows at now.
func (v *View) present(t *tile, now time.Time) Tile {
	var audio time.Time
	haveAudio := false
	if v.cfg.AudioClock != nil {
		audio, haveAudio = v.cfg.AudioClock.SenderTimeNow(t.id)
		audio = audio.Add(v.DisplayDelay()) // what will be heard when a frame released now is seen
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for n < len(t.queue) {
		f := &t.queue[n]
		due := !haveAudio || f.sender.IsZero() || !f.sender.After(audio) ||
			now.Sub(f.decoded) >= v.cfg.MaxHold || len(t.queue)-n > maxQueue/2
		if !due {
			if !f.held {
				f.held = true
				t.stats.framesHeld.Add(1)
			}
			break
		}
		// The picture shown until now was returned by an earlier call
		// of Tiles at most, whose caller is done with it.
		t.recycleLocked(t.shown)
		t.shown = f.img
		t.seq++
		n++
	}
	if n > 0 {
		clear(t.queue[:n])
		t.queue = append(t.queue[:0], t.queue[n:]...)
	}
	out := Tile{ID: t.id, Name: t.name, Frame: t.shown, Seq: t.seq, State: t.state}
	if t.shown != nil && now.Sub(t.lastNew) > v.cfg.StaleAfter || t.state.CameraOff {
		out.Frame = nil
	}
	return out
}

// push queues a decoded frame on t.
func (t *tile) push(f queuedFrame) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.queue) >= maxQueue {
		t.recycleLocked(t.queue[0].img) // never shown
		clear(t.queue[:1])
		t.queue = append(t.queue[:0], t.queue[1:]...)
		t.stats.framesOverflow.Add(1)
	}
	if t.shown != nil && len(t.queue) == 0 && t.shown.Rect != f.img.Rect ||
		len(t.queue) > 0 && t.queue[len(t.queue)-1].img.Rect != f.img.Rect {
		t.stats.resolutionChanges.Add(1)
	}
	t.queue = append(t.queue, f)
	t.lastNew = f.decoded
}

// attach returns the tile of a peer, creating it, with one more sink.
func (v *View) attach(id, name string) *tile {
	v.mu.Lock()
	defer v.mu.Unlock()
	t := v.tiles[id]
	if t == nil {
		t = &tile{id: id, name: name}
		v.tiles[id] = t
		v.version++
	}
	t.mu.Lock()
	t.sinks++
	t.mu.Unlock()
	return t
}

// detach drops one sink from t, and the tile with its last one unless the
// peer is still present.
func (v *View) detach(t *tile) {
	v.mu.Lock()
	defer v.mu.Unlock()
	t.mu.Lock()
	t.sinks--
	if t.sinks == 0 {
		t.queue, t.shown = nil, nil // no frozen frame: a dark tile
	}
	t.mu.Unlock()
	v.dropIfUnusedLocked(t)
}

// dropIfUnusedLocked removes t when it has no sink and its peer is not
// present. v.mu is held.
func (v *View) dropIfUnusedLocked(t *tile) {
	t.mu.Lock()
	unused := t.sinks == 0 && !t.present
	t.mu.Unlock()
	if unused && v.tiles[t.id] == t {
		delete(v.tiles, t.id)
		v.version++
		v.gone = v.gone.add(t.stats.snapshot())
	}
}

// SetPresent says whether a remote peer is in the call, so that it has a
// tile (its name on a dark tile) also without video. Called from the
// peer's events: a connection to it exists (present) or it left.
func (v *View) SetPresent(id, name string, present bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	t := v.tiles[id]
	if t == nil {
		if !present {
			return
		}
		t = &tile{id: id, name: name}
		v.tiles[id] = t
		v.version++
	}
	t.mu.Lock()
	t.present = present
	t.mu.Unlock()
	v.dropIfUnusedLocked(t)
}

// Stats are the view's counters: per peer id for the tiles there are now,
// and the total over all tiles since the view began.
type Stats struct {
	Peers    map[string]PeerStats `json:"peers"`
	Total    Counters             `json:"total"`
	Decoders int64                `json:"decoders"`
}

// PeerStats are one tile's counters.
type PeerStats struct {
	Name  string `json:"name"`
	Codec string `json:"codec"`
	Counters
}

// Stats returns the counters now.
func (v *View) Stats() Stats {
	v.mu.Lock()
	defer v.mu.Unlock()
	s := Stats{Peers: map[string]PeerStats{}, Total: v.gone, Decoders: v.decoders.Load()}
	for id, t := range v.tiles {
		c := t.stats.snapshot()
		t.mu.Lock()
		codec := t.codec
		t.mu.Unlock()
		s.Peers[id] = PeerStats{Name: t.name, Codec: codec, Counters: c}
		s.Total = s.Total.add(c)
	}
	return s
}

// OpenDecoders is the number of decoders alive now (0 once every sink is
// closed).
func (v *View) OpenDecoders() int64 { return v.decoders.Load() }

// OpenSinks is the number of sinks not yet closed.
func (v *View) OpenSinks() int64 { return v.sinks.Load() }
