package callbench

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/chromedp/chromedp"
)

// endpoint is one side of a call: a native peer or a Chromium page.
type endpoint interface {
	label() string
	kind() string
	pid() int
	// counters returns the side's cumulative media counters now.
	counters(ctx context.Context) (counters, error)
	// receiving waits until the side decodes video from n remote peers.
	receiving(ctx context.Context, n int) error
	close()
}

// sideSpec describes one side of a call to start.
type sideSpec struct {
	Kind  string // "native" or "chromium"
	Video string // "clip" or "test" (native), "clip" (chromium)
	Codec string // chromium only: force this video codec
}

// nativeSide is a `videochat join` child.
type nativeSide struct {
	name string
	c    *child
}

func (n *nativeSide) label() string { return n.name }
func (n *nativeSide) kind() string  { return "native" }
func (n *nativeSide) pid() int      { return n.c.pid() }
func (n *nativeSide) close()        { _ = n.c.stop(5 * time.Second) }

func (n *nativeSide) counters(context.Context) (counters, error) {
	c, ok := n.c.counters()
	if !ok {
		return counters{}, fmt.Errorf("%s: no stats yet", n.name)
	}
	return c, nil
}

func (n *nativeSide) receiving(ctx context.Context, peers int) error {
	return n.c.waitStats(ctx, fmt.Sprintf("video from %d peer(s)", peers), func(c counters) bool { return c.PeersReceiving >= peers })
}

// chromiumSide is a Chromium page in the room.
type chromiumSide struct {
	name string
	b    *browser
}

func (c *chromiumSide) label() string { return c.name }
func (c *chromiumSide) kind() string  { return "chromium" }
func (c *chromiumSide) pid() int      { return c.b.PID }
func (c *chromiumSide) close()        { c.b.close() }

func (c *chromiumSide) counters(context.Context) (counters, error) {
	v, err := eval[counters](c.b, countersJS)
	v.At = time.Now()
	return v, err
}

func (c *chromiumSide) receiving(ctx context.Context, peers int) error {
	for {
		v, err := c.counters(ctx)
		if err == nil && v.PeersReceiving >= peers {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: waiting for video from %d peer(s): %w (last: %+v, %v)", c.name, peers, ctx.Err(), v, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// roomURL is the browser client's address for room as name.
func roomURL(server, room, name string) string {
	return server + "/room/" + url.PathEscape(room) + "?name=" + url.QueryEscape(name)
}

// env is what starting sides needs.
type env struct {
	bin, chromium, server, clip string
	bitrate                     int
	audio                       string // native peers' --audio ("" = test)
}

func (e env) audioSource() string {
	if e.audio == "" {
		return "test"
	}
	return e.audio
}

func (e env) video(v string) string {
	if v == "clip" {
		return e.clip
	}
	return v
}

// startSide starts one side in room and waits until it has joined.
func (e env) startSide(ctx context.Context, s sideSpec, room, name string) (endpoint, error) {
	if s.Kind == "native" {
		c, err := startChild(ctx, e.bin, name, nil, joinArgs(e.server, room, name, e.video(s.Video), e.audioSource(),
			"--video-bitrate", fmt.Sprint(e.bitrate))...)
		if err != nil {
			return nil, err
		}
		if err := c.waitEvent(ctx, c.joined, "joining"); err != nil {
			_ = c.stop(time.Second)
			return nil, err
		}
		return &nativeSide{name: name, c: c}, nil
	}
	b, err := launchBrowser(ctx, browserOptions{exe: e.chromium, clip: e.clip,
		setup: pageSetup{Codec: s.Codec, Width: 640, Height: 480, FPS: 30}})
	if err != nil {
		return nil, err
	}
	if err := e.joinPage(ctx, b, room, name); err != nil {
		b.close()
		return nil, err
	}
	return &chromiumSide{name: name, b: b}, nil
}

// joinPage navigates b into room and waits until the client has joined.
func (e env) joinPage(ctx context.Context, b *browser, room, name string) error {
	if err := b.do(30*time.Second, chromedp.Navigate(roomURL(e.server, room, name))); err != nil {
		return fmt.Errorf("%s: navigate: %w", name, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return waitJS(wctx, b, name+" joined", `window.videochat && window.videochat.state === 'joined'`)
}
