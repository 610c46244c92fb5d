package callbench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// ChromiumPath returns the Chromium binary: $CHROMIUM, /usr/bin/chromium,
// or chromium, chromium-browser or google-chrome in PATH; "" if none.
func ChromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		if found, err := exec.LookPath(p); err == nil {
			return found
		}
		return ""
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if found, err := exec.LookPath(name); err == nil {
			return found
		}
	}
	return ""
}

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
	out         *syncBuffer
}

// browserFlags are the flags of shared/BROWSER-TESTING.md: headless, fake
// camera and microphone with permission granted, loopback ICE, and no
// lookups of outside hosts.
func browserFlags(dir string) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(dir),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1"),
		chromedp.WindowSize(1280, 800),
	}
}

// launchBrowser starts Chromium showing about:blank, with the benchmark's
// page script installed for every document it loads.
func launchBrowser(ctx context.Context, o browserOptions) (*browser, error) {
	dir, err := os.MkdirTemp("", "callbench-chromium-")
	if err != nil {
		return nil, err
	}
	b := &browser{dir: dir, out: &syncBuffer{}}
	opts := append(browserFlags(dir), chromedp.ExecPath(o.exe), chromedp.CombinedOutput(b.out))
	if o.clip != "" {
		opts = append(opts, chromedp.Flag("use-file-for-fake-video-capture", o.clip))
	}
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
			return fmt.Errorf("Chromium ended while waiting for %s\n%s", what, tail(b.out.String(), 2000))
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

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}
