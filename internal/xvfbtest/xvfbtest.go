// Package xvfbtest runs a throw-away X server (Xvfb) for tests: the real
// display that screen capture reads and the window view draws on. Each
// Display has its own number and is killed when the test ends. Paint puts
// a known image on the root window (imagemagick's display); Screenshot
// reads the whole screen back (import -window root).
package xvfbtest

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const startTimeout = 20 * time.Second

const missing = "\n*** XVFB NOT FOUND: the tests that need a display did NOT run. ***\n" +
	"*** Install it: scripts/deps.sh test (xvfb imagemagick) ***"

// Display is one Xvfb server owned by a test.
type Display struct {
	tb     testing.TB
	Name   string // ":N", the DISPLAY value
	W, H   int
	cmd    *exec.Cmd
	exited chan struct{}
	log    bytes.Buffer
}

// Require ends the test when Xvfb or imagemagick is missing: t.Fatal when
// CI is "true", otherwise t.Skip with a loud message.
func Require(tb testing.TB) {
	tb.Helper()
	for _, tool := range []string{"Xvfb", "import", "display"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				tb.Fatal(missing)
			}
			tb.Skip(missing)
		}
	}
}

// Start runs Xvfb with one w×h×24 screen on a free display number and waits
// until it accepts clients. -displayfd makes Xvfb pick the number and say it
// once it is ready, so there is no race for a number and no polling.
func Start(tb testing.TB, w, h int) *Display {
	tb.Helper()
	Require(tb)
	d := &Display{tb: tb, W: w, H: h}
	tb.Cleanup(d.stop)
	d.launch("")
	return d
}

// Kill kills the X server at once (SIGKILL, as a crash) and waits until
// it has exited: its clients' connections break.
func (d *Display) Kill() {
	d.tb.Helper()
	d.stop()
}

// Restart starts a new X server on the same display number after Kill,
// with the same screen, and waits until it accepts clients.
func (d *Display) Restart() {
	d.tb.Helper()
	d.stop()
	d.launch(d.Name)
}

// launch runs Xvfb on display name ("": a free number, which Xvfb picks)
// and waits until it is ready. -displayfd makes Xvfb say the number once
// it accepts clients, so there is no race for a number and no polling.
func (d *Display) launch(name string) {
	tb := d.tb
	tb.Helper()
	r, wr, err := os.Pipe()
	if err != nil {
		tb.Fatal(err)
	}
	d.exited = make(chan struct{})
	var args []string
	if name != "" {
		args = append(args, name)
	}
	args = append(args, "-displayfd", "3", "-screen", "0", fmt.Sprintf("%dx%dx24", d.W, d.H), "-nolisten", "tcp", "-noreset")
	cmd := exec.Command("Xvfb", args...)
	cmd.ExtraFiles = []*os.File{wr}
	cmd.Stdout = &d.log
	cmd.Stderr = &d.log
	if err := cmd.Start(); err != nil {
		tb.Fatalf("xvfbtest: start Xvfb: %v", err)
	}
	wr.Close()
	d.cmd = cmd
	exited := d.exited
	go func() { _ = cmd.Wait(); close(exited) }()

	num := make(chan string, 1)
	go func() {
		defer r.Close()
		// Xvfb writes the number and then "\n" in a second write, and
		// dies ("Cannot write display number to fd 3") if the pipe is
		// closed in between: read up to the newline (or EOF).
		var buf []byte
		chunk := make([]byte, 32)
		for !strings.Contains(string(buf), "\n") {
			n, err := r.Read(chunk)
			buf = append(buf, chunk[:n]...)
			if err != nil {
				break
			}
		}
		num <- strings.TrimSpace(string(buf))
	}()
	select {
	case s := <-num:
		if _, err := strconv.Atoi(s); err != nil {
			tb.Fatalf("xvfbtest: Xvfb did not start (display %q):\n%s", s, d.log.String())
		}
		d.Name = ":" + s
	case <-time.After(startTimeout):
		tb.Fatalf("xvfbtest: Xvfb not ready within %v:\n%s", startTimeout, d.log.String())
	}
}

// Env is the environment a client needs for this display.
func (d *Display) Env() []string { return []string{"DISPLAY=" + d.Name} }

// Setenv sets DISPLAY for this process until the test ends.
func (d *Display) Setenv(t *testing.T) { t.Helper(); t.Setenv("DISPLAY", d.Name) }

// Cmd is exec.Command with DISPLAY set to this display.
func (d *Display) Cmd(name string, args ...string) *exec.Cmd {
	c := exec.Command(name, args...)
	c.Env = append(os.Environ(), d.Env()...)
	return c
}

// Paint shows img on the root window (the background, as a screen-capture
// source) and returns when it is there.
func (d *Display) Paint(img image.Image) {
	d.tb.Helper()
	path := filepath.Join(d.tb.TempDir(), "paint.png")
	f, err := os.Create(path)
	if err != nil {
		d.tb.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		d.tb.Fatal(err)
	}
	f.Close()
	// display exits 1 after painting the root window successfully; only
	// a message means it failed.
	if out, err := d.Cmd("display", "-window", "root", path).CombinedOutput(); err != nil && len(bytes.TrimSpace(out)) > 0 {
		d.tb.Fatalf("xvfbtest: display -window root: %v\n%s", err, out)
	}
}

// Screenshot returns the whole screen as it is now.
func (d *Display) Screenshot() image.Image {
	d.tb.Helper()
	out, err := d.Cmd("import", "-silent", "-window", "root", "png:-").Output()
	if err != nil {
		d.tb.Fatalf("xvfbtest: import -window root: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(out))
	if err != nil {
		d.tb.Fatalf("xvfbtest: decode screenshot: %v", err)
	}
	return img
}

// Log is what Xvfb has printed so far.
func (d *Display) Log() string { return d.log.String() }

func (d *Display) stop() {
	if d.cmd == nil {
		return
	}
	select {
	case <-d.exited:
		return
	default:
	}
	_ = d.cmd.Process.Kill()
	<-d.exited
}
