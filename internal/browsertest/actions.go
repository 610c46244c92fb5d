package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/chromedp/chromedp"
)

// pollInterval is how often WaitFor re-evaluates its condition.
const pollInterval = 50 * time.Millisecond

// Do runs chromedp actions on the page within the page's timeout; an error
// fails the test.
func (p *Page) Do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, p.timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("%s: %s: %v", p.name, what, err)
	}
}

// Navigate loads url and waits for its load event.
func (p *Page) Navigate(url string) {
	p.t.Helper()
	p.Do("navigate to "+url, chromedp.Navigate(url))
}

// Click clicks the first element matching the CSS selector.
func (p *Page) Click(selector string) {
	p.t.Helper()
	p.Do("click "+selector, chromedp.Click(chromedp.CSS(selector)))
}

// SetValue sets the value of the input matching the CSS selector.
func (p *Page) SetValue(selector, value string) {
	p.t.Helper()
	p.Do("set "+selector, chromedp.SetValue(chromedp.CSS(selector), value))
}

// EvalErr evaluates the JavaScript expression on p, awaiting a promise
// result, and decodes the result into T.
func EvalErr[T any](p *Page, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(p.ctx, p.timeout)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

// Eval is EvalErr that fails the test on error.
func Eval[T any](p *Page, expr string) T {
	p.t.Helper()
	v, err := EvalErr[T](p, expr)
	if err != nil {
		p.t.Fatalf("%s: evaluate %q: %v", p.name, expr, err)
	}
	return v
}

// ErrTimeout is returned by Wait when the condition stayed false.
var ErrTimeout = errors.New("condition not met before the deadline")

// Wait polls the JavaScript condition until it is truthy or timeout passes
// (Options.Timeout when zero) and returns how long that took. A promise is
// awaited, so the condition may be asynchronous (e.g. use getStats). A condition
// that throws counts as false until the deadline; the last error is then
// reported.
func (p *Page) Wait(cond string, timeout time.Duration) (time.Duration, error) {
	if timeout == 0 {
		timeout = p.timeout
	}
	start := time.Now()
	deadline := start.Add(timeout)
	expr := fmt.Sprintf("(async () => !!(await (%s)))()", cond)
	var lastErr error
	for {
		ok, err := EvalErr[bool](p, expr)
		if err == nil && ok {
			return time.Since(start), nil
		}
		if err != nil {
			lastErr = err
		}
		if time.Now().After(deadline) {
			if lastErr != nil {
				return time.Since(start), fmt.Errorf("%w (last error: %v)", ErrTimeout, lastErr)
			}
			return time.Since(start), ErrTimeout
		}
		select {
		case <-p.ctx.Done():
			return time.Since(start), p.ctx.Err()
		case <-time.After(pollInterval):
		}
	}
}

// WaitFor is Wait that fails the test, naming what it waited for.
func (p *Page) WaitFor(what, cond string, timeout time.Duration) time.Duration {
	p.t.Helper()
	d, err := p.Wait(cond, timeout)
	if err != nil {
		p.t.Fatalf("%s: waiting %v for %s (%s): %v", p.name, d.Round(time.Millisecond), what, cond, err)
	}
	return d
}

// Screenshot saves a PNG of the viewport, resized to width×height, to path.
func (p *Page) Screenshot(path string, width, height int64) error {
	ctx, cancel := context.WithTimeout(p.ctx, p.timeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, height)); err != nil {
		return fmt.Errorf("set viewport: %w", err)
	}
	return p.SaveScreenshot(path)
}

// SaveScreenshot saves a PNG of the viewport as it is to path.
func (p *Page) SaveScreenshot(path string) error {
	ctx, cancel := context.WithTimeout(p.ctx, p.timeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		return fmt.Errorf("capture screenshot: %w", err)
	}
	return os.WriteFile(path, png, 0o644)
}
