package callbench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/videochat/videochat/internal/browsertest/chromium"
)

// ChromiumPath returns the Chromium binary (see chromium.Path); "" if
// none.
func ChromiumPath() string { return chromium.Path() }

// browserOptions configure one headless Chromium.
type browserOptions struct {
	exe   string
	clip  string // Y4M file for the fake camera; "" = Chromium's own pattern
	setup pageSetup
}

// browser is one headless Chromium process showing one page.
type browser struct {
	ctx         context.Context
	cancel      context.CancelFunc
	cancelAlloc context.CancelFunc
	dir         string
	launched    time.Time
	pid         int
	out         *chromium.Output
}

// launchBrowser starts Chromium showing about:blank, with the benchmark's
// page script installed for every document it loads.
func launchBrowser(ctx context.Context, o browserOptions) (*browser, error) {
	dir, err := os.MkdirTemp("", "callbench-chromium-")
	if err != nil {
		return nil, err
	}
	b := &browser{dir: dir, out: &chromium.Output{}}
	var extra map[string]any
	if o.clip != "" {
		extra = map[string]any{"use-file-for-fake-video-capture": o.clip}
	}
	opts := append(chromium.Flags(dir, chromium.DefaultWidth, chromium.DefaultHeight, extra),
		chromedp.ExecPath(o.exe), chromedp.CombinedOutput(b.out))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	b.ctx, b.cancel = chromedp.NewContext(allocCtx)
	b.cancelAlloc = cancelAlloc
	b.launched = time.Now()
	script := pageScript(o.setup)
	// The first action starts the browser and binds it to the context it
	// runs with: use b.ctx itself, not a shorter-lived child.
	err = chromedp.Do(b.ctx, chromedp.Navigate("about:blank"),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: script})
			return err
		}))
	if err != nil {
		b.close()
		return nil, fmt.Errorf("start Chromium (%s): %w\n%s", o.exe, err, b.out.String())
	}
	if p := chromedp.FromContext(b.ctx).Browser.Process(); p != nil {
		b.pid = p.Pid
	}
	if b.pid == 0 {
		b.close()
		return nil, errors.New("Chromium started but its process id is unknown")
	}
	return b, nil
}

// do runs chromedp actions bounded by timeout.
func (b *browser) do(timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	return chromedp.Do(ctx, actions...)
}

// eval evaluates a JavaScript expression, awaiting a promise, into T.
func eval[T any](b *browser, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

// waitJS polls a JavaScript condition every 50 ms until it is true.
func waitJS(ctx context.Context, b *browser, what, cond string) error {
	expr := fmt.Sprintf("(async () => !!(await (%s)))()", cond)
	var last error
	for {
		ok, err := eval[bool](b, expr)
		if err == nil && ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("Chromium: waiting for %s: %w (last error: %v)", what, ctx.Err(), last)
		case <-b.ctx.Done():
			return fmt.Errorf("Chromium ended while waiting for %s\n%s", what, b.out.Tail(2000))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// close stops Chromium and removes its profile.
func (b *browser) close() {
	if b.ctx != nil {
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		_ = chromedp.Cancel(ctx)
		cancel()
		b.cancel()
	}
	b.cancelAlloc()
	_ = os.RemoveAll(b.dir)
}
