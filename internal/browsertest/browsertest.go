// Package browsertest drives real headless Chromium pages from Go tests, with
// the flags, fake media devices and loopback networking that the e2e tests
// of this repository need (see shared/BROWSER-TESTING.md).
//
// Each Page is its own Chromium process with its own temporary profile, so
// pages never throttle each other as background tabs would. Pages close in
// the test's cleanup; a failed test first gets each page's console log and
// the getStats() summary of its peer connections.
package browsertest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/videochat/videochat/internal/browsertest/chromium"
)

// DefaultTimeout bounds one wait or action when Options.Timeout is zero. It
// is generous: the test machines have two cores shared with other work.
const DefaultTimeout = 60 * time.Second

// Options configures one page.
type Options struct {
	// Name labels the page in logs, e.g. "alice".
	Name string
	// Flags are extra Chromium flags, name without "--" → value: a string,
	// true for a bare switch, or false to drop one of the default flags, e.g.
	// {"use-file-for-fake-video-capture": "/tmp/clip.y4m"} or
	// {"use-fake-device-for-media-stream": false} for a machine without
	// camera and microphone.
	Flags map[string]any
	// Width and Height set the window size (default 1280×800).
	Width, Height int
	// Timeout bounds each wait and action (default DefaultTimeout).
	Timeout time.Duration
}

// Page is one headless Chromium process showing one page. Its methods fail
// the test they are bound to (see For) when something goes wrong.
type Page struct {
	t testing.TB
	*browser
}

// browser is the state a Page shares with its copies made by For.
type browser struct {
	name    string
	ctx     context.Context
	timeout time.Duration
	output  *chromium.Output

	mu      sync.Mutex
	console []string
}

// For returns a view of the page whose failures are reported to t, for use
// inside subtests. The browser still closes with the test that launched it.
func (p *Page) For(t testing.TB) *Page {
	return &Page{t: t, browser: p.browser}
}

// ChromiumPath returns the Chromium binary to use (see chromium.Path), or
// "" when none exists.
func ChromiumPath() string { return chromium.Path() }

// Require returns the Chromium path, or ends the test: t.Fatal when the
// environment variable CI is "true", otherwise t.Skip with a loud message.
func Require(t testing.TB) string {
	t.Helper()
	p := ChromiumPath()
	if p != "" {
		return p
	}
	const msg = "\n*** CHROMIUM NOT FOUND: browser end-to-end tests did NOT run. ***\n" +
		"*** Install it (apt-get install -y chromium) or set CHROMIUM=/path/to/chromium. ***"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Launch starts a fresh headless Chromium for one page and returns it,
// showing about:blank. The browser stops in t's cleanup.
func Launch(t testing.TB, opts Options) *Page {
	t.Helper()
	exe := Require(t)
	if opts.Width == 0 || opts.Height == 0 {
		opts.Width, opts.Height = chromium.DefaultWidth, chromium.DefaultHeight
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Name == "" {
		opts.Name = "page"
	}
	dir := t.TempDir() // registered first, so removed after the browser stops
	out := &chromium.Output{}
	allocOpts := append(chromium.Flags(dir, opts.Width, opts.Height, opts.Flags),
		chromedp.ExecPath(exe), chromedp.CombinedOutput(out))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), allocOpts...)
	p := &Page{t: t, browser: &browser{name: opts.Name, timeout: opts.Timeout, output: out}}
	ctx, cancel := chromedp.NewContext(allocCtx,
		chromedp.WithLogf(p.logf), chromedp.WithErrorf(p.logf))
	p.ctx = ctx
	start := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("%s: starting Chromium (%s): %v\n%s", opts.Name, exe, err, out.String())
	}
	t.Logf("%s: Chromium started in %v", opts.Name, time.Since(start).Round(time.Millisecond))
	done := p.collectConsole()
	t.Cleanup(func() {
		if t.Failed() {
			p.dump()
		}
		p.close(cancel)
		cancelAlloc()
		<-done
	})
	return p
}

// close stops the browser gracefully, bounded in time.
func (p *Page) close(cancel context.CancelFunc) {
	ctx, stop := context.WithTimeout(p.ctx, 10*time.Second)
	defer stop()
	if err := chromedp.Cancel(ctx); err != nil {
		p.t.Logf("%s: closing Chromium: %v", p.name, err)
	}
	cancel()
}

// collectConsole records the page's console messages until the page closes.
// The returned channel closes when the collecting goroutine has ended.
func (p *browser) collectConsole() <-chan struct{} {
	done := make(chan struct{})
	messages := chromedp.Console(p.ctx)
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			p.mu.Lock()
			p.console = append(p.console, fmt.Sprintf("%s %s", m.Time.Format("15:04:05.000"), m))
			p.mu.Unlock()
		}
	}()
	return done
}

// logf records chromedp's own log lines with the console messages.
func (p *browser) logf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.console = append(p.console, "chromedp: "+fmt.Sprintf(format, args...))
}

// Name returns the page's label.
func (p *browser) Name() string { return p.name }

// Context returns the page's chromedp context, for actions this package
// does not wrap. Derive timeouts from it; never cancel it.
func (p *browser) Context() context.Context { return p.ctx }

// ConsoleLog returns the console messages recorded so far.
func (p *browser) ConsoleLog() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.console...)
}

// dump logs the console and the WebRTC stats of the page.
func (p *Page) dump() {
	p.t.Logf("==== %s: console ====\n%s", p.name, strings.Join(p.ConsoleLog(), "\n"))
	if s, err := p.StatsSummary(); err == nil {
		p.t.Logf("==== %s: getStats ====\n%s", p.name, s)
	} else {
		p.t.Logf("==== %s: getStats failed: %v", p.name, err)
	}
	if out := p.output.Tail(4096); out != "" {
		p.t.Logf("==== %s: Chromium output (last 4 KiB) ====\n%s", p.name, out)
	}
}
