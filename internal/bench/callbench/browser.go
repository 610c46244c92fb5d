package callbench

import (
	"context"
	"time"

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

// browser is one headless Chromium process showing one page
// (chromium.Browser) with the benchmark's page script.
type browser struct{ *chromium.Browser }

// launchBrowser starts Chromium showing about:blank, with the benchmark's
// page script installed for every document it loads.
func launchBrowser(ctx context.Context, o browserOptions) (*browser, error) {
	b, err := chromium.Launch(ctx, chromium.LaunchConfig{Exe: o.exe, Clip: o.clip,
		Script: pageScript(o.setup), TempPrefix: "callbench-chromium-"})
	if err != nil {
		return nil, err
	}
	return &browser{b}, nil
}

// do runs chromedp actions bounded by timeout.
func (b *browser) do(timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) error {
	return b.Do(timeout, actions...)
}

// eval evaluates a JavaScript expression, awaiting a promise, into T.
func eval[T any](b *browser, expr string) (T, error) { return chromium.Eval[T](b.Browser, expr) }

// waitJS polls a JavaScript condition every 50 ms until it is true.
func waitJS(ctx context.Context, b *browser, what, cond string) error {
	return b.WaitJS(ctx, what, cond)
}

// close stops Chromium and removes its profile.
func (b *browser) close() { b.Close() }
