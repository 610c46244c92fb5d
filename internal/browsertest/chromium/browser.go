package chromium

// browser.go: one headless Chromium driven without package testing, for
// the benchmarks of the videochat-bench binary (callbench, netbench).
// Invariants: a Browser owns its Chromium process and its profile
// directory; Close ends the one and removes the other. Every action is
// bounded by a timeout of its own.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// LaunchConfig describes a Browser to start.
type LaunchConfig struct {
	Exe  string // the Chromium binary
	Clip string // Y4M file for the fake camera; "" = Chromium's own pattern
	// Script, when not "", runs in every document before its own scripts.
	Script string
	// TempPrefix names the profile directory (default "chromium-").
	TempPrefix string
}

// Browser is one headless Chromium process showing one page.
type Browser struct {
	Ctx      context.Context // the page's chromedp context
	PID      int             // the browser process
	Launched time.Time       // when the process was started
	Out      *Output         // the browser's output

	cancel      context.CancelFunc
	cancelAlloc context.CancelFunc
	dir         string
}

// Launch starts Chromium showing about:blank.
func Launch(ctx context.Context, cfg LaunchConfig) (*Browser, error) {
	// chromedp waits for a browser that never started when the binary is
	// missing: say so first.
	if _, err := exec.LookPath(cfg.Exe); err != nil {
		return nil, fmt.Errorf("start Chromium: %w", err)
	}
	prefix := cfg.TempPrefix
	if prefix == "" {
		prefix = "chromium-"
	}
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, err
	}
	b := &Browser{dir: dir, Out: &Output{}}
	var extra map[string]any
	if cfg.Clip != "" {
		extra = map[string]any{"use-file-for-fake-video-capture": cfg.Clip}
	}
	opts := append(Flags(dir, DefaultWidth, DefaultHeight, extra),
		chromedp.ExecPath(cfg.Exe), chromedp.CombinedOutput(b.Out))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	b.Ctx, b.cancel = chromedp.NewContext(allocCtx)
	b.cancelAlloc = cancelAlloc
	b.Launched = time.Now()
	actions := []chromedp.Action[chromedp.Void]{chromedp.Navigate("about:blank")}
	if cfg.Script != "" {
		actions = append(actions, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cfg.Script})
			return err
		}))
	}
	// The first action starts the browser and binds it to the context it
	// runs with: use b.Ctx itself, not a shorter-lived child.
	if err := chromedp.Do(b.Ctx, actions...); err != nil {
		b.Close()
		return nil, fmt.Errorf("start Chromium (%s): %w\n%s", cfg.Exe, err, b.Out.String())
	}
	if p := chromedp.FromContext(b.Ctx).Browser.Process(); p != nil {
		b.PID = p.Pid
	}
	if b.PID == 0 {
		b.Close()
		return nil, errors.New("Chromium started but its process id is unknown")
	}
	return b, nil
}

// Do runs chromedp actions bounded by timeout.
func (b *Browser) Do(timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(b.Ctx, timeout)
	defer cancel()
	return chromedp.Do(ctx, actions...)
}

// Navigate loads url, bounded by 30 s.
func (b *Browser) Navigate(url string) error {
	return b.Do(30*time.Second, chromedp.Navigate(url))
}

// Eval evaluates a JavaScript expression, awaiting a promise, into T,
// bounded by 20 s.
func Eval[T any](b *Browser, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(b.Ctx, 20*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

// WaitJS polls a JavaScript condition every 50 ms until it is true, ctx
// ends or the browser does.
func (b *Browser) WaitJS(ctx context.Context, what, cond string) error {
	expr := fmt.Sprintf("(async () => !!(await (%s)))()", cond)
	var last error
	for {
		ok, err := Eval[bool](b, expr)
		if err == nil && ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("Chromium: waiting for %s: %w (last error: %v)", what, ctx.Err(), last)
		case <-b.Ctx.Done():
			return fmt.Errorf("Chromium ended while waiting for %s\n%s", what, b.Out.Tail(2000))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Close stops Chromium and removes its profile.
func (b *Browser) Close() {
	if b.Ctx != nil {
		ctx, cancel := context.WithTimeout(b.Ctx, 10*time.Second)
		_ = chromedp.Cancel(ctx)
		cancel()
		b.cancel()
	}
	b.cancelAlloc()
	_ = os.RemoveAll(b.dir)
}
