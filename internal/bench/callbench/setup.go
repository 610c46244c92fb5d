package callbench

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/chromedp/chromedp"
)

// runSetups measures cfg.Runs call set-ups of each kind into r.
func runSetups(ctx context.Context, cfg CallConfig, e env, r *SetupResult) error {
	var native []float64
	for i := range cfg.Runs {
		d, err := nativeSetup(ctx, e, fmt.Sprintf("setup-n-%d-%d", os.Getpid(), i))
		if err != nil {
			return fmt.Errorf("native set-up run %d: %w", i+1, err)
		}
		cfg.Logger.Info("native set-up", "run", i+1, "ms", d)
		native = append(native, d)
	}
	r.Native = summarize(native)
	if e.chromium == "" {
		return nil
	}
	var nav, launch, rendered []float64
	for i := range cfg.Runs {
		f, err := chromiumSetup(ctx, e, fmt.Sprintf("setup-c-%d-%d", os.Getpid(), i))
		if err != nil {
			return fmt.Errorf("Chromium set-up run %d: %w", i+1, err)
		}
		cfg.Logger.Info("Chromium set-up", "run", i+1, "navigation_ms", f.nav, "launch_ms", f.launch)
		nav, launch = append(nav, f.nav), append(launch, f.launch)
		if f.rendered >= 0 {
			rendered = append(rendered, f.rendered)
		}
	}
	r.ChromiumNav, r.ChromiumLaunch, r.ChromiumRendered = summarize(nav), summarize(launch), summarize(rendered)
	if r.Native.P50 > 0 {
		r.RatioNav = r.ChromiumNav.P50 / r.Native.P50
		r.RatioLaunch = r.ChromiumLaunch.P50 / r.Native.P50
	}
	return nil
}

// nativeSetup starts a native peer, then a second one, and returns the
// time in ms from the second process's start to its first remote video.
func nativeSetup(ctx context.Context, e env, room string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	a, err := e.startSide(ctx, sideSpec{Kind: "native", Video: "clip"}, room, "a")
	if err != nil {
		return 0, err
	}
	defer a.close()
	b, err := startChild(ctx, e.bin, "b", nil, joinArgs(e.server, room, "b", e.clip, e.audioSource(),
		"--video-bitrate", fmt.Sprint(e.bitrate))...)
	if err != nil {
		return 0, err
	}
	defer b.stop(5 * time.Second)
	if err := b.waitEvent(ctx, b.firstVideo, "the first remote video"); err != nil {
		return 0, err
	}
	return ms(b.videoAt.Sub(b.started)), nil
}

// pageFrame is a Chromium set-up run's times in ms; rendered is -1 when
// requestVideoFrameCallback never fired.
type pageFrame struct{ nav, launch, rendered float64 }

// chromiumSetup joins page A, then launches Chromium B into the same room
// and returns when B decoded its first remote frame.
func chromiumSetup(ctx context.Context, e env, room string) (pageFrame, error) {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	a, err := e.startSide(ctx, sideSpec{Kind: "chromium", Video: "clip"}, room, "a")
	if err != nil {
		return pageFrame{}, err
	}
	defer a.close()
	b, err := launchBrowser(ctx, browserOptions{exe: e.chromium, clip: e.clip,
		setup: pageSetup{Width: 640, Height: 480, FPS: 30}})
	if err != nil {
		return pageFrame{}, err
	}
	defer b.close()
	if err := b.do(30*time.Second, chromedp.Navigate(roomURL(e.server, room, "b"))); err != nil {
		return pageFrame{}, fmt.Errorf("b: navigate: %w", err)
	}
	type first struct{ TimeOrigin, Decoded, Rendered float64 }
	for {
		f, err := eval[*first](b, firstFrameJS)
		if err == nil && f != nil {
			launchMs := f.TimeOrigin + f.Decoded - float64(b.Launched.UnixNano())/1e6
			return pageFrame{nav: f.Decoded, launch: launchMs, rendered: f.Rendered}, nil
		}
		select {
		case <-ctx.Done():
			return pageFrame{}, fmt.Errorf("b: %w: %v (err %v)", errNoFrame, ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
