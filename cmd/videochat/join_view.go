package main

// The remote video of `videochat join`: --view window|terminal|none. The
// view package decodes every remote video track into one tile per peer;
// view/window (SDL2, not in nogui builds) or view/term draws the tiles.
// Closing the window leaves the call; the X server's death ends only the
// window (window.ErrDisplayLost), the call goes on.
//
// The tiles also show each peer's state (view.State): its announced
// microphone and camera, whether it talks, its link quality. They come
// from the peer's stats, polled every statePoll and at once when a peer
// announces a change (peer.EventPeerState), by a goroutine that start
// owns and its stop ends.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/videochat/videochat/peer"
	"github.com/videochat/videochat/view"
	"github.com/videochat/videochat/view/term"
	"github.com/videochat/videochat/view/window"
)

// viewFlags are join's flags for showing remote video.
type viewFlags struct {
	mode       string
	fullscreen bool
	renderer   string // --window-renderer: SDL render driver ("" auto)
	graphics   string // --terminal-graphics: term.Config.Mode
}

func (v *viewFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&v.mode, "view", "", "show the others' video: window, terminal or none (default: window when a display is available, else none)")
	fl.BoolVar(&v.fullscreen, "fullscreen", false, "with --view window: cover the whole screen (kiosks)")
	fl.StringVar(&v.renderer, "window-renderer", "", "with --view window: SDL's render driver, e.g. software, opengl, opengles2 (default: the first accelerated one, but software when GL has no GPU behind it); SDL_RENDER_DRIVER overrides it")
	fl.StringVar(&v.graphics, "terminal-graphics", "auto", "with --view terminal: blocks (truecolor half-blocks), kitty, sixel, or auto (kitty or sixel when the environment names a terminal that has it)")
}

// check resolves --view and refuses combinations that cannot work; join
// calls it before opening any device, so a bad --view is a usage error
// even on a machine without a camera.
func (v viewFlags) check(statsJSON string) (string, error) {
	mode, err := v.viewMode()
	if err != nil {
		return "", err
	}
	switch v.graphics {
	case "", "auto", "blocks", "kitty", "sixel":
	default:
		return "", fmt.Errorf("--terminal-graphics %q: use auto, blocks, kitty or sixel", v.graphics)
	}
	if mode == "terminal" && statsJSON == "-" {
		return "", errors.New("--view terminal draws on standard output: write --stats-json to a file")
	}
	return mode, nil
}

// viewMode resolves --view: "" means window when there is a display (and
// the build has the window view), else none.
func (v viewFlags) viewMode() (string, error) {
	switch v.mode {
	case "":
		if window.DisplayAvailable(os.Getenv) {
			return "window", nil
		}
		return "none", nil
	case "window":
		if !window.Available {
			return "", errors.New("--view window: this videochat was built without the window view (nogui); use --view terminal")
		}
		return "window", nil
	case "terminal":
		if !isTerminal(os.Stdout) {
			return "", errors.New("--view terminal: standard output is not a terminal")
		}
		return "terminal", nil
	case "none":
		return "none", nil
	}
	return "", fmt.Errorf("--view %q: use window, terminal or none", v.mode)
}

// viewer is join's remote video: the tiles and the renderer showing them.
type viewer struct {
	mode       string
	fullscreen bool
	renderer   string
	graphics   string
	title      string
	log        *slog.Logger
	v          *view.View    // nil with --view none
	nudge      chan struct{} // a peer announced its state: poll now
}

// statePoll is how often the tiles' state is read from the peer's stats:
// well under the peer's talk hysteresis, so the highlight follows it.
const statePoll = 250 * time.Millisecond

// newViewer checks the flags. clock, when set, is the audio player's clock
// that video waits for (lip sync). statsJSON is join's --stats-json: "-"
// (stdout) cannot share the terminal with the terminal view.
func newViewer(f viewFlags, statsJSON, title string, log *slog.Logger, clock view.AudioClock) (*viewer, error) {
	mode, err := f.check(statsJSON)
	if err != nil {
		return nil, err
	}
	w := &viewer{mode: mode, fullscreen: f.fullscreen, renderer: f.renderer, graphics: f.graphics,
		title: title, log: log.With("component", "view")}
	if mode != "none" {
		w.v = view.New(view.Config{AudioClock: clock, Logger: w.log})
		w.nudge = make(chan struct{}, 1)
	}
	return w, nil
}

// videoSink is the sink of a remote video track for peer.Config.OnTrack
// (nil for audio tracks and with --view none).
func (w *viewer) videoSink(rt peer.RemoteTrack) peer.TrackSink {
	if w == nil || w.v == nil {
		return nil
	}
	return w.v.Sink(rt)
}

// events wraps next (join's event handler): the view learns who is in
// the call, so a peer without video still has a tile with its name.
func (w *viewer) events(next func(peer.Event)) func(peer.Event) {
	if w == nil || w.v == nil {
		return next
	}
	return func(e peer.Event) {
		switch {
		case e.Kind == peer.EventPeerLeft, e.Kind == peer.EventState && e.State == "closed":
			w.v.SetPresent(e.Peer.ID, e.Peer.Name, false)
		case e.Kind == peer.EventState, e.Kind == peer.EventPeerJoined, e.Kind == peer.EventFirstFrame:
			w.v.SetPresent(e.Peer.ID, e.Peer.Name, true)
		case e.Kind == peer.EventPeerState:
			select {
			case w.nudge <- struct{}{}:
			default:
			}
		}
		next(e)
	}
}

// stats are the view's counters for the stats report (nil with none).
func (w *viewer) stats() *view.Stats {
	if w == nil || w.v == nil {
		return nil
	}
	s := w.v.Stats()
	return &s
}

// tileState is the view's State of a peer from its stats.
func tileState(ps peer.PeerStats) view.State {
	return view.State{MicOff: ps.Mic == "off", CameraOff: ps.Camera == "off", Speaking: ps.Speaking, Quality: ps.Quality}
}

// followState sets the tiles' state from stats until ctx ends.
func (w *viewer) followState(ctx context.Context, stats func() peer.Snapshot) {
	tick := time.NewTicker(statePoll)
	defer tick.Stop()
	for {
		for _, ps := range stats().Peers {
			w.v.SetState(ps.ID, tileState(ps))
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-w.nudge:
		}
	}
}

// start runs the renderer, and the goroutine that keeps the tiles' state
// from stats (the peer's Stats), until stop. The returned context ends
// when the user closes the window, so the call ends with it. stop ends
// both and waits for them (the terminal is given back).
func (w *viewer) start(ctx context.Context, out *chatPrinter, stats func() peer.Snapshot) (context.Context, func()) {
	if w.v == nil {
		return ctx, func() {}
	}
	ctx, leave := context.WithCancel(ctx)
	rctx, stopRender := context.WithCancel(ctx)
	done := make(chan struct{})
	stateDone := make(chan struct{})
	go func() {
		defer close(stateDone)
		w.followState(rctx, stats)
	}()
	go func() {
		defer close(done)
		var err error
		switch w.mode {
		case "window":
			err = window.Run(rctx, window.Config{Title: w.title, Fullscreen: w.fullscreen, RenderDriver: w.renderer, Logger: w.log}, w.v)
		case "terminal":
			err = term.Run(rctx, term.Config{Out: out.w, Lock: &out.mu, Mode: w.graphics}, w.v)
		}
		switch {
		case errors.Is(err, window.ErrClosed):
			w.log.Info("window closed: leaving the call")
			leave()
		case errors.Is(err, window.ErrDisplayLost):
			w.log.Warn("window view: X server gone; the call goes on without the view", "err", err)
		case err != nil:
			w.log.Warn("the video view stopped; the call goes on", "err", err)
		}
	}()
	return ctx, func() {
		stopRender()
		<-done
		<-stateDone
		leave()
	}
}
