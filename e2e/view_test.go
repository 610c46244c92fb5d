package e2e

// The views of `videochat join`: the window (SDL under Xvfb) and the
// terminal (in tmux), each showing real remote peers.

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/browsertest"
	"github.com/videochat/videochat/internal/xvfbtest"
	"github.com/videochat/videochat/peer"
	"github.com/videochat/videochat/view"
	"github.com/videochat/videochat/view/window"
)

// ycc inverts view.RGB (BT.601 limited range): the decoded pixel a shown
// colour came from.
func ycc(c color.RGBA) (y, cb, cr float64) {
	r, g, b := float64(c.R), float64(c.G), float64(c.B)
	y = 16 + (65.481*r+128.553*g+24.966*b)/255
	cb = 128 + (-37.797*r-74.203*g+112*b)/255
	cr = 128 + (112*r-93.786*g-18.214*b)/255
	return
}

// patternColour: a colour of the native test pattern (capture/pattern.go:
// Y 60–190 with a Y 230 box, Cb 70–190, Cr 80–180), with room for coding
// and clipping errors. The dark tile (28,28,28) and pure colours are not.
func patternColour(c color.RGBA) bool {
	y, cb, cr := ycc(c)
	return y >= 48 && y <= 242 && cb >= 56 && cb <= 204 && cr >= 66 && cr <= 194
}

func isDark(c color.RGBA) bool {
	return c.R < 40 && c.G < 40 && c.B < 40
}

// waitCheck polls check until it passes or ctx ends.
func waitCheck(ctx context.Context, t *testing.T, what string, check func() error) {
	t.Helper()
	var err error
	for {
		if err = check(); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %v", what, err)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// share returns the fraction of the points of r (every step-th) for which
// ok holds.
func share(r image.Rectangle, step int, at func(x, y int) color.RGBA, ok func(color.RGBA) bool) float64 {
	n, good := 0, 0
	for y := r.Min.Y; y < r.Max.Y; y += step {
		for x := r.Min.X; x < r.Max.X; x += step {
			n++
			if ok(at(x, y)) {
				good++
			}
		}
	}
	if n == 0 {
		return 0
	}
	return float64(good) / float64(n)
}

func lumaStddev(r image.Rectangle, at func(x, y int) color.RGBA) float64 {
	var s, s2, n float64
	for y := r.Min.Y; y < r.Max.Y; y += 2 {
		for x := r.Min.X; x < r.Max.X; x += 2 {
			l, _, _ := ycc(at(x, y))
			s, s2, n = s+l, s2+l*l, n+1
		}
	}
	m := s / n
	return sqrt(s2/n - m*m)
}

func sqrt(x float64) float64 {
	if x <= 0 {
		return 0
	}
	z := x
	for i := 0; i < 30; i++ {
		z = (z + x/z) / 2
	}
	return z
}

// shrinkRect insets r by a fraction of its size on each side.
func shrinkRect(r image.Rectangle, frac float64) image.Rectangle {
	dx, dy := int(float64(r.Dx())*frac), int(float64(r.Dy())*frac)
	return image.Rect(r.Min.X+dx, r.Min.Y+dy, r.Max.X-dx, r.Max.Y-dy)
}

// writeY4M writes a short 4:2:0 clip of one colour for Chromium's fake
// camera.
func writeY4M(t *testing.T, w, h int, y, cb, cr byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "solid.y4m")
	var b strings.Builder
	fmt.Fprintf(&b, "YUV4MPEG2 W%d H%d F30:1 Ip A1:1 C420jpeg\n", w, h)
	frame := make([]byte, w*h*3/2)
	for i := range frame {
		switch {
		case i < w*h:
			frame[i] = y
		case i < w*h*5/4:
			frame[i] = cb
		default:
			frame[i] = cr
		}
	}
	for i := 0; i < 30; i++ {
		b.WriteString("FRAME\n")
		b.Write(frame)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// captionMatches reports whether the strip r of img shows name as the
// window draws it (window.Caption): the white pixels of the strip, cut to
// their bounding box, equal the caption's.
func captionMatches(img image.Image, r image.Rectangle, name string) error {
	want := window.Caption(name)
	white := func(c color.Color) bool {
		cr, cg, cb, _ := c.RGBA()
		return cr>>8 > 200 && cg>>8 > 200 && cb>>8 > 200
	}
	box := image.Rectangle{}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if white(img.At(x, y)) {
				box = box.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	wbox := image.Rectangle{}
	for y := 0; y < want.Rect.Dy(); y++ {
		for x := 0; x < want.Rect.Dx(); x++ {
			if white(want.At(x, y)) {
				wbox = wbox.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	if box.Dx() != wbox.Dx() || box.Dy() != wbox.Dy() {
		return fmt.Errorf("caption %q: text %v in the strip, want %dx%d", name, box, wbox.Dx(), wbox.Dy())
	}
	diff := 0
	for y := 0; y < box.Dy(); y++ {
		for x := 0; x < box.Dx(); x++ {
			if white(img.At(box.Min.X+x, box.Min.Y+y)) != white(want.At(wbox.Min.X+x, wbox.Min.Y+y)) {
				diff++
			}
		}
	}
	if diff > box.Dx()*box.Dy()/50 {
		return fmt.Errorf("caption %q: %d of %d pixels differ", name, diff, box.Dx()*box.Dy())
	}
	if c := (box.Min.X + box.Max.X) / 2; c < (r.Min.X+r.Max.X)/2-2 || c > (r.Min.X+r.Max.X)/2+2 {
		return fmt.Errorf("caption %q not centred: %v in %v", name, box, r)
	}
	return nil
}

// TestViewWindow: a native viewer under Xvfb (--view window --fullscreen)
// shows a Chromium peer (fake camera playing solid blue) and a native
// --video test peer: each tile has its colours in its picture area, dark
// around the fitted picture, and its name in the caption strip, drawn with
// the embedded font; basil (no microphone) has the muted mark in its
// caption, and when it turns its camera off its tile is dark with its
// name. When the native peer leaves, the grid re-flows to one
// tile. Closing the window leaves the call (exit 0).
func TestViewWindow(t *testing.T) {
	browsertest.Require(t)
	d := xvfbtest.Start(t, 1280, 720)
	d.Setenv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, url := startServer(ctx, t)
	basil := startWithStdin(t, joinArgs(url, "vwin", "basil", "--video", "test", "--audio", "none", "--view", "none")...)
	pg := browsertest.Launch(t, browsertest.Options{Name: "amberlynn",
		Flags: map[string]any{"use-file-for-fake-video-capture": writeY4M(t, 640, 480, 41, 240, 110)}})
	pg.Navigate(url + "/room/vwin?name=amberlynn")
	stats := filepath.Join(t.TempDir(), "stats.jsonl")
	viewer := start(t, joinArgs(url, "vwin", "viewer", "--video", "none", "--audio", "none",
		"--view", "window", "--fullscreen", "--stats-json", stats, "--log-level", "info")...)

	blue := func(c color.RGBA) bool { return c.B > 170 && c.R < 90 && c.G < 90 }
	var shot image.Image
	var err error
	at := func(x, y int) color.RGBA {
		r, g, b, _ := shot.At(x, y).RGBA()
		return color.RGBA{byte(r >> 8), byte(g >> 8), byte(b >> 8), 255}
	}
	checkTile := func(r window.TileRects, name string, colours func(color.RGBA) bool, minShare float64) error {
		fit := view.Fit(r.Picture, 640, 480)
		if s := share(shrinkRect(fit, 0.05), 4, at, colours); s < minShare {
			return fmt.Errorf("%s: %.0f%% of the picture has its colours", name, s*100)
		}
		if fit.Min.X-r.Picture.Min.X > 8 {
			margin := image.Rect(r.Picture.Min.X+2, r.Picture.Min.Y+2, fit.Min.X-2, r.Picture.Max.Y-2)
			if s := share(margin, 3, at, isDark); s < 0.99 {
				return fmt.Errorf("%s: the margin beside the picture is not dark (%.0f%%)", name, s*100)
			}
		}
		return captionMatches(shot, r.Caption, name)
	}
	waitCheck(ctx, t, "two tiles", func() error {
		if shot, err = screenshot(d); err != nil {
			return err
		}
		rects := window.Rects(2, 1280, 720) // tiles in name order
		if err := checkTile(rects[0], "amberlynn", blue, 0.95); err != nil {
			return err
		}
		if err := checkTile(rects[1], "basil", patternColour, 0.9); err != nil {
			return err
		}
		if sd := lumaStddev(shrinkRect(view.Fit(rects[1].Picture, 640, 480), 0.05), at); sd < 10 {
			return fmt.Errorf("basil's picture is flat (luma stddev %.1f)", sd)
		}
		return mutedMark(rects[1], "basil", at)
	})
	savePNG(t, "window-two-tiles.png", shot)

	// basil turns its camera off: its name on a dark tile.
	if _, err := fmt.Fprintln(basil.stdin, "/video off"); err != nil {
		t.Fatal(err)
	}
	waitCheck(ctx, t, "basil's camera off", func() error {
		if shot, err = screenshot(d); err != nil {
			return err
		}
		r := window.Rects(2, 1280, 720)[1]
		if s := share(shrinkRect(r.Picture, 0.02), 4, at, isDark); s < 0.99 {
			return fmt.Errorf("basil's tile is %.0f%% dark", s*100)
		}
		if err := captionMatches(shot, r.Caption, "basil"); err != nil {
			return err
		}
		return mutedMark(r, "basil", at)
	})

	basil.stop(10 * time.Second)
	waitCheck(ctx, t, "one tile after basil left", func() error {
		if shot, err = screenshot(d); err != nil {
			return err
		}
		return checkTile(window.Rects(1, 1280, 720)[0], "amberlynn", blue, 0.95)
	})
	waitCheck(ctx, t, "view stats in --stats-json", func() error {
		s, err := peer.LastStatsLine[viewLine](stats)
		if err != nil {
			return err
		}
		if s.View == nil || s.View.Total.FramesDecoded < 30 {
			return fmt.Errorf("want ≥30 frames decoded: %+v", s.View)
		}
		return nil
	})

	// Closing the window (as a window manager does) leaves the call.
	if n, err := d.CloseWindows(); err != nil || n == 0 {
		t.Fatalf("close the window: %d windows, %v", n, err)
	}
	if code := viewer.wait(ctx); code != 0 {
		t.Fatalf("viewer after its window closed: exit %d\n%s", code, viewer.output())
	}
	if out := viewer.output(); !strings.Contains(out, "window closed") {
		t.Fatalf("the viewer did not say why it left:\n%s", out)
	}
}

// mutedMark checks that the caption of tile r shows the crossed-out
// microphone (window.Decorate) left of the centred name.
func mutedMark(r window.TileRects, name string, at func(x, y int) color.RGBA) error {
	nameW := window.Caption(name).Bounds().Dx()
	left := image.Rect(r.Caption.Min.X, r.Caption.Min.Y, (r.Caption.Min.X+r.Caption.Max.X-nameW)/2, r.Caption.Max.Y)
	red := func(c color.RGBA) bool {
		s := window.ColMicSlash
		return absDiff(c.R, s.R) <= 20 && absDiff(c.G, s.G) <= 20 && absDiff(c.B, s.B) <= 20
	}
	if s := share(left, 1, at, red); s*float64(left.Dx()*left.Dy()) < 20 {
		return fmt.Errorf("%s: no muted microphone left of the name in %v", name, left)
	}
	return nil
}

func absDiff(a, b byte) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

// screenshot is the whole screen now. Unlike xvfbtest's Screenshot it
// returns an error, for polling: import can fail while a window maps.
func screenshot(d *xvfbtest.Display) (image.Image, error) {
	var stderr strings.Builder
	cmd := d.Cmd("import", "-silent", "-window", "root", "png:-")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		_, serr := os.Stat("/tmp/.X11-unix/X" + strings.TrimPrefix(d.Name, ":"))
		return nil, fmt.Errorf("import -window root: %v: %s (socket: %v; Xvfb says: %s)", err, stderr.String(), serr, d.Log())
	}
	return png.Decode(bytes.NewReader(out))
}

// savePNG keeps a screenshot in the test's output directory when asked
// (VIDEOCHAT_SHOTS=dir).
func savePNG(t *testing.T, name string, img image.Image) {
	dir := os.Getenv("VIDEOCHAT_SHOTS")
	if dir == "" {
		return
	}
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		t.Log(err)
		return
	}
	defer f.Close()
	_ = pngEncode(f, img)
}

// tmuxSession is one detached tmux server and session owned by a test.
type tmuxSession struct {
	t      testing.TB
	socket string
	conf   string
}

func startTmux(t testing.TB, cols, rows int, command string) *tmuxSession {
	t.Helper()
	requireTool(t, "tmux")
	dir := t.TempDir()
	s := &tmuxSession{t: t, socket: filepath.Join(dir, "tmux.sock"), conf: filepath.Join(dir, "tmux.conf")}
	if err := os.WriteFile(s.conf, []byte("set -g status off\nset -g default-terminal tmux-256color\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = s.run("kill-server") })
	if out, err := s.run("new-session", "-d", "-x", strconv.Itoa(cols), "-y", strconv.Itoa(rows), command); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	return s
}

func (s *tmuxSession) run(args ...string) (string, error) {
	cmd := exec.Command("tmux", append([]string{"-u", "-S", s.socket, "-f", s.conf}, args...)...)
	cmd.Env = append(os.Environ(), "LANG=C.UTF-8", "LC_ALL=C.UTF-8")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// termCell is one character cell of a captured pane.
type termCell struct {
	ch     rune
	fg, bg color.RGBA
}

// capture returns the pane's cells (capture-pane -e: with colours).
func (s *tmuxSession) capture() ([][]termCell, error) {
	out, err := s.run("capture-pane", "-e", "-p")
	if err != nil {
		return nil, fmt.Errorf("capture-pane: %v: %s", err, out)
	}
	var rows [][]termCell
	var sgr sgrState // tmux writes a colour only where it changes, also across lines
	for _, line := range strings.Split(out, "\n") {
		rows = append(rows, sgr.parseLine(line))
	}
	return rows, nil
}

// sgrState is the current colours while reading captured lines.
type sgrState struct{ fg, bg color.RGBA }

// parseLine reads one line of text with SGR colour sequences.
func (st *sgrState) parseLine(line string) []termCell {
	var cells []termCell
	fg, bg := st.fg, st.bg
	defer func() { st.fg, st.bg = fg, bg }()
	rs := []rune(line)
	for i := 0; i < len(rs); i++ {
		if rs[i] == 0x1b && i+1 < len(rs) && rs[i+1] == '[' {
			j := i + 2
			for j < len(rs) && (rs[j] < 0x40 || rs[j] > 0x7e) {
				j++
			}
			if j < len(rs) && rs[j] == 'm' {
				ps := strings.Split(string(rs[i+2:j]), ";")
				for k := 0; k < len(ps); k++ {
					switch ps[k] {
					case "", "0":
						fg, bg = color.RGBA{}, color.RGBA{}
					case "38", "48":
						if k+4 < len(ps) && ps[k+1] == "2" {
							r, _ := strconv.Atoi(ps[k+2])
							g, _ := strconv.Atoi(ps[k+3])
							b, _ := strconv.Atoi(ps[k+4])
							c := color.RGBA{byte(r), byte(g), byte(b), 255}
							if ps[k] == "38" {
								fg = c
							} else {
								bg = c
							}
							k += 4
						} else if k+2 < len(ps) && ps[k+1] == "5" {
							k += 2
						}
					case "39":
						fg = color.RGBA{}
					case "49":
						bg = color.RGBA{}
					}
				}
			}
			i = j
			continue
		}
		cells = append(cells, termCell{ch: rs[i], fg: fg, bg: bg})
	}
	return cells
}

// TestViewTerminal: in tmux, `join --view terminal` draws the remote test
// pattern in the cells where the layout puts it (half-blocks whose two
// colours are the pattern's), dark cells beside it, the name in the
// caption row (green: basil's tone is talk; quality bars at the right end),
// and the status line on the last row. Resizing the pane re-flows the grid
// to the new size; a chat line shows under the grid without breaking it.
// basil's /mute puts "[muted]" before its name and ends the green; its
// /video off leaves its name on a dark tile.
func TestViewTerminal(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, url := startServer(ctx, t)
	basil := startWithStdin(t, joinArgs(url, "vterm", "basil", "--video", "test", "--audio", "test", "--view", "none")...)
	errLog := filepath.Join(t.TempDir(), "viewer.log")
	args := joinArgs(url, "vterm", "viewer", "--video", "none", "--audio", "none", "--view", "terminal")
	quoted := make([]string, 0, len(args)+1)
	for _, a := range append([]string{binPath}, args...) {
		quoted = append(quoted, "'"+strings.ReplaceAll(a, "'", `'\''`)+"'")
	}
	tm := startTmux(t, 100, 40, strings.Join(quoted, " ")+" 2>"+errLog)
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(errLog)
			t.Logf("viewer stderr:\n%s", b)
		}
	})

	muted, speaking := false, true // basil sends a tone
	check := func(cols, rows int) error {
		cells, err := tm.capture()
		if err != nil {
			return err
		}
		tile := view.Layout(1, cols, rows-termChatRows)[0]
		pic := tile
		pic.Max.Y--
		fit := view.Fit(image.Rect(pic.Min.X, pic.Min.Y*2, pic.Max.X, pic.Max.Y*2), 640, 480)
		cellFit := image.Rect(fit.Min.X, (fit.Min.Y+1)/2, fit.Max.X, fit.Max.Y/2)
		cellAt := func(x, y int) (termCell, bool) {
			if y >= len(cells) || x >= len(cells[y]) {
				return termCell{}, false
			}
			return cells[y][x], true
		}
		good, n := 0, 0
		for y := cellFit.Min.Y; y < cellFit.Max.Y; y++ {
			for x := cellFit.Min.X; x < cellFit.Max.X; x++ {
				c, ok := cellAt(x, y)
				n++
				if ok && c.ch == '▀' && patternColour(c.fg) && patternColour(c.bg) {
					good++
				}
			}
		}
		if n == 0 || float64(good) < 0.9*float64(n) {
			return fmt.Errorf("%dx%d: %d of %d cells in %v show the pattern", cols, rows, good, n, cellFit)
		}
		if cellFit.Min.X-tile.Min.X >= 2 {
			if c, ok := cellAt(tile.Min.X, (pic.Min.Y+pic.Max.Y)/2); !ok || c.bg != (color.RGBA{28, 28, 28, 255}) {
				return fmt.Errorf("%dx%d: the cell beside the picture is %+v, want the dark tile", cols, rows, c)
			}
		}
		if err := checkCaption(cells, tile, "basil", muted, speaking); err != nil {
			return fmt.Errorf("%dx%d: %w", cols, rows, err)
		}
		// The status line is on the last row: it is cut to the terminal's
		// width, so it never wraps.
		var last strings.Builder
		for _, c := range cells[rows-1] {
			last.WriteRune(c.ch)
		}
		if !strings.HasPrefix(last.String(), "peers 1 |") {
			return fmt.Errorf("%dx%d: last row is %q, want the status line", cols, rows, last.String())
		}
		return nil
	}
	waitCheck(ctx, t, "the pattern at 100x40", func() error { return check(100, 40) })
	if out, err := tm.run("resize-window", "-x", "60", "-y", "30"); err != nil {
		t.Fatalf("resize-window: %v %s", err, out)
	}
	waitCheck(ctx, t, "the pattern re-flowed to 60x30", func() error { return check(60, 30) })

	// Chat lines scroll in the rows under the grid; the grid stays whole.
	if _, err := fmt.Fprintln(basil.stdin, "hello from basil"); err != nil {
		t.Fatal(err)
	}
	waitCheck(ctx, t, "the chat line under the grid", func() error {
		cells, err := tm.capture()
		if err != nil {
			return err
		}
		for y := 30 - 6; y < 30-1 && y < len(cells); y++ {
			var row strings.Builder
			for _, c := range cells[y] {
				row.WriteRune(c.ch)
			}
			if strings.Contains(row.String(), "[basil] hello from basil") {
				return check(60, 30)
			}
		}
		return fmt.Errorf("no chat line in the chat rows")
	})

	// basil mutes: its caption gets the muted mark and stops being green
	// (the talk detector's hold ends); its camera off: a dark tile with
	// its name, while the caption keeps the marks.
	if _, err := fmt.Fprintln(basil.stdin, "/mute"); err != nil {
		t.Fatal(err)
	}
	muted, speaking = true, false
	waitCheck(ctx, t, "basil muted", func() error { return check(60, 30) })
	if _, err := fmt.Fprintln(basil.stdin, "/video off"); err != nil {
		t.Fatal(err)
	}
	waitCheck(ctx, t, "basil's camera off", func() error {
		cells, err := tm.capture()
		if err != nil {
			return err
		}
		tile := view.Layout(1, 60, 30-termChatRows)[0]
		for y := tile.Min.Y; y < tile.Max.Y-1; y++ {
			for x := tile.Min.X; x < tile.Max.X && x < len(cells[y]); x++ {
				if c := cells[y][x]; c.ch != ' ' || c.bg != (color.RGBA{28, 28, 28, 255}) {
					return fmt.Errorf("cell %d,%d is %+v, want the dark tile", x, y, c)
				}
			}
		}
		return checkCaption(cells, tile, "basil", true, false)
	})
}

// termChatRows are the rows under the terminal view's grid (term.Config's
// default).
const termChatRows = 6

// checkCaption checks the caption row of a tile in the terminal: the name
// centred, "[muted] " just left of it when muted, the quality bars at the
// right end, and the row green while the peer talks (term's colours).
func checkCaption(cells [][]termCell, tile image.Rectangle, name string, muted, speaking bool) error {
	capRow := tile.Max.Y - 1
	if capRow >= len(cells) || len(cells[capRow]) <= tile.Min.X {
		return fmt.Errorf("no caption row %d", capRow)
	}
	row := cells[capRow][tile.Min.X:min(tile.Max.X, len(cells[capRow]))] // capture-pane cuts trailing blanks
	var text strings.Builder
	for _, c := range row {
		text.WriteRune(c.ch)
	}
	s := []rune(text.String())
	at := (tile.Dx() - len(name)) / 2
	if at+len(name) > len(s) || string(s[at:at+len(name)]) != name {
		return fmt.Errorf("caption %q: %q not centred", text.String(), name)
	}
	if got := at >= 8 && string(s[at-8:at]) == "[muted] "; got != muted {
		return fmt.Errorf("caption %q: muted mark %v, want %v", text.String(), got, muted)
	}
	if !strings.HasSuffix(strings.TrimRight(text.String(), " "), "▂▄▆") {
		return fmt.Errorf("caption %q: no quality bars at the right end", text.String())
	}
	green := color.RGBA{24, 120, 56, 255}
	if got := row[0].bg == green; got != speaking {
		return fmt.Errorf("caption background %v: talking %v, want %v", row[0].bg, got, speaking)
	}
	return nil
}

// viewLine is a --stats-json line with the view's counters.
type viewLine struct {
	View *view.Stats `json:"view"`
}

func pngEncode(w io.Writer, img image.Image) error { return png.Encode(w, img) }
