// Package chromium holds what every headless Chromium started by this
// repository shares: where the binary is, the command line flags of
// shared/BROWSER-TESTING.md, and a buffer for the browser's output. It does
// not import testing, so that both the browser tests (package browsertest)
// and the call benchmark of the videochat binary can use it.
package chromium

import (
	"bytes"
	"os"
	"os/exec"
	"sync"

	"github.com/chromedp/chromedp"
)

// Default window size of a page.
const (
	DefaultWidth  = 1280
	DefaultHeight = 800
)

// Path returns the Chromium binary to use: $CHROMIUM, then
// /usr/bin/chromium, then chromium, chromium-browser or google-chrome in
// PATH. It returns "" when none exists.
func Path() string {
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

// Flags returns the Chromium flags of BROWSER-TESTING.md: headless, fake
// camera and microphone with permission granted, autoplay, loopback ICE, no
// lookups of outside hosts, the profile in userDataDir and a window of
// width×height. The extra flags follow, name without "--" → value: a
// string, true for a bare switch, or false to drop one of the defaults.
func Flags(userDataDir string, width, height int, extra map[string]any) []chromedp.ExecAllocatorOption {
	opts := []chromedp.ExecAllocatorOption{
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(userDataDir),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1"),
		chromedp.WindowSize(width, height),
	}
	for name, v := range extra {
		opts = append(opts, chromedp.Flag(name, v))
	}
	return opts
}

// Output collects a browser's combined standard output and error. It is
// safe for concurrent use; the zero value is ready.
type Output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

// String returns everything written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// Tail returns the last n bytes written, or all if there are fewer.
func (o *Output) Tail(n int) string {
	s := o.String()
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
