// Package term draws the view's tiles in a terminal, for SSH sessions.
//
// Pictures are truecolor half-block characters ('▀': the foreground colour
// is the upper pixel, the background the lower), which every modern
// terminal and tmux show. In kitty (TERM=xterm-kitty or KITTY_WINDOW_ID set,
// not inside tmux or screen) pictures are sent with the kitty graphics
// protocol instead. Terminals that speak sixel get sixel images (sixel.go)
// when asked (Config.Mode "sixel", join's --view-graphics sixel) or when
// the environment names one that does (DetectMode); it is not detected
// by querying the terminal (DA1), because the reply would arrive on the
// standard input that the chat reads.
//
// Invariants:
//   - The grid fills the top of the screen; the bottom Config.ChatRows rows
//     are a scroll region that belongs to the chat lines and the status
//     line. Every drawing saves and restores the cursor and is written under
//     Config.Lock, so it never tears a chat line or the status line.
//   - It follows the terminal's size (SIGWINCH, and the size read before
//     each frame) and draws at most Config.FPS (≤ 15) frames a second, only
//     the cells that changed.
//   - On return the scroll region is reset and the grid erased.
package term

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/videochat/videochat/view"
)

// Source is what the terminal shows: view.View implements it.
type Source interface {
	Tiles() ([]view.Tile, uint64)
}

// Config configures Run.
type Config struct {
	// Out is the terminal (os.Stdout).
	Out io.Writer
	// Lock serialises writes to Out with the chat and status lines (nil:
	// no one else writes).
	Lock sync.Locker
	// Size returns the terminal's columns and rows (default: TIOCGWINSZ on
	// Out, which must then be an *os.File).
	Size func() (cols, rows int, err error)
	// FPS caps the frame rate (default and maximum 15).
	FPS int
	// ChatRows are the bottom rows left to chat and the status line
	// (default 6).
	ChatRows int
	// Mode is "auto" (default), "blocks", "kitty" or "sixel".
	Mode string
	// CellSize returns a character cell's size in pixels, for sixel
	// images (default: TIOCGWINSZ's pixel size of Out divided by its
	// cells; when the terminal does not tell, 6×12, small enough that an
	// image stays inside its tile).
	CellSize func() (w, h int)
	// Getenv reads the environment for Mode "auto" (default os.Getenv).
	Getenv func(string) string
}

// ErrNotTerminal: Out is not a terminal.
var ErrNotTerminal = errors.New("term: output is not a terminal")

func (c *Config) defaults() error {
	if c.FPS <= 0 || c.FPS > 15 {
		c.FPS = 15
	}
	if c.ChatRows <= 0 {
		c.ChatRows = 6
	}
	if c.Getenv == nil {
		c.Getenv = os.Getenv
	}
	if c.Lock == nil {
		c.Lock = &sync.Mutex{}
	}
	if c.Size == nil {
		f, ok := c.Out.(*os.File)
		if !ok {
			return ErrNotTerminal
		}
		if _, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err != nil {
			return ErrNotTerminal
		}
		c.Size = func() (int, int, error) {
			ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
			if err != nil {
				return 0, 0, err
			}
			return int(ws.Col), int(ws.Row), nil
		}
	}
	if c.CellSize == nil {
		f, _ := c.Out.(*os.File)
		c.CellSize = func() (int, int) { return cellSize(f) }
	}
	if c.Mode == "" || c.Mode == "auto" {
		c.Mode = DetectMode(c.Getenv)
	}
	return nil
}

// Fallback cell size when the terminal does not report pixels.
const (
	fallbackCellW = 6
	fallbackCellH = 12
)

// cellSize is a cell's size in pixels from TIOCGWINSZ on f, or the
// fallback.
func cellSize(f *os.File) (int, int) {
	if f != nil {
		ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
		if err == nil && ws.Col > 0 && ws.Row > 0 && ws.Xpixel >= ws.Col && ws.Ypixel >= ws.Row {
			return int(ws.Xpixel / ws.Col), int(ws.Ypixel / ws.Row)
		}
	}
	return fallbackCellW, fallbackCellH
}

// DetectMode picks, from the environment: "kitty" in kitty itself, "sixel"
// in terminals known to speak sixel (foot, mlterm, contour, yaft,
// WezTerm), both only when not inside tmux or screen (which may not pass
// graphics on); else "blocks". xterm speaks sixel only when started as a
// VT340 (-ti vt340), which its environment does not tell: ask for sixel
// there (Config.Mode).
func DetectMode(getenv func(string) string) string {
	term := getenv("TERM")
	if getenv("TMUX") != "" || strings.HasPrefix(term, "screen") || strings.HasPrefix(term, "tmux") {
		return "blocks"
	}
	if getenv("KITTY_WINDOW_ID") != "" || term == "xterm-kitty" {
		return "kitty"
	}
	for _, t := range [...]string{"foot", "mlterm", "contour", "yaft"} {
		if strings.HasPrefix(term, t) {
			return "sixel"
		}
	}
	if getenv("TERM_PROGRAM") == "WezTerm" {
		return "sixel"
	}
	return "blocks"
}

// Run draws src until ctx ends.
func Run(ctx context.Context, cfg Config, src Source) error {
	if err := cfg.defaults(); err != nil {
		return err
	}
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	defer signal.Stop(winch)
	tick := time.NewTicker(time.Second / time.Duration(cfg.FPS))
	defer tick.Stop()
	r := &renderer{cfg: cfg, meter: view.DelayMeter{Interval: time.Second / time.Duration(cfg.FPS)}}
	defer r.restore()
	for {
		r.frame(src)
		select {
		case <-ctx.Done():
			return nil
		case <-winch:
			r.cols = -1 // re-read the size and re-lay out now
		case <-tick.C:
		}
	}
}

// cell is one character cell: a rune with its colours.
type cell struct {
	ch     rune
	fg, bg color.RGBA
}

// renderer is Run's state; used by Run's goroutine only.
type renderer struct {
	meter      view.DelayMeter // lip sync: Tiles → written, for the view (view/display.go)
	cfg        Config
	cols, rows int // terminal size at the last layout
	vrows      int // rows of the grid
	prev, cur  []cell
	seqs       []uint64 // each tile's frame sequence at the last drawing
	version    uint64
	drawn      bool
	kitty      kittyState
	sixel      sixelState
	buf        bytes.Buffer
	num        []byte // scratch for escape sequences
}

var (
	colDark    = color.RGBA{28, 28, 28, 255}
	colCaption = color.RGBA{60, 60, 60, 255}
	colText    = color.RGBA{240, 240, 240, 255}
	colBlack   = color.RGBA{0, 0, 0, 255}
	// The caption of a peer that talks, the muted mark, and the quality
	// bars: unlit, and lit for poor (1), fair (2) and good (3).
	colSpeaking   = color.RGBA{24, 120, 56, 255}
	colMuted      = color.RGBA{255, 96, 96, 255}
	colUnlit      = color.RGBA{120, 120, 120, 255}
	qualityColour = [4]color.RGBA{3: {96, 224, 112, 255}, 2: {232, 200, 64, 255}, 1: {255, 96, 96, 255}}
)

// frame draws one frame if anything changed.
func (r *renderer) frame(src Source) {
	cols, rows, err := r.cfg.Size()
	if err != nil || cols <= 0 || rows <= 0 {
		return
	}
	taken := time.Now()
	tiles, ver := src.Tiles()
	resized := cols != r.cols || rows != r.rows
	if !resized && ver == r.version && r.drawn && sameSeqs(tiles, r.seqs) {
		return
	}
	r.buf.Reset()
	if resized {
		r.layoutScreen(cols, rows)
	}
	r.version = ver
	r.seqs = r.seqs[:0]
	for _, t := range tiles {
		r.seqs = append(r.seqs, t.Seq)
	}
	if r.vrows <= 0 {
		r.flush()
		return
	}
	for i := range r.cur {
		r.cur[i] = cell{ch: ' ', bg: colBlack, fg: colBlack}
	}
	rects := view.Layout(len(tiles), cols, r.vrows)
	var pics []kittyPic
	for i, t := range tiles {
		if pic, ok := r.drawTile(t, rects[i]); ok {
			pics = append(pics, pic)
		}
	}
	var sizes []image.Point
	cw, ch := 0, 0
	if r.cfg.Mode == "sixel" {
		cw, ch = r.cfg.CellSize()
		for _, p := range pics {
			sizes = append(sizes, sixelSize(p.at, cw, ch, p.img.Rect.Dx(), p.img.Rect.Dy()))
		}
		for _, rc := range r.sixel.stale(pics, sizes) {
			r.unwrite(rc)
		}
	}
	r.writeCells()
	switch r.cfg.Mode {
	case "kitty":
		r.kitty.place(&r.buf, pics)
	case "sixel":
		r.sixel.place(&r.buf, pics, sizes, cw, ch)
	}
	r.drawn = true
	r.flush()
	if d, ok := src.(interface{ SetDisplayDelay(time.Duration) }); ok {
		d.SetDisplayDelay(r.meter.Frame(time.Since(taken)))
	}
}

// unwrite marks the cells of rc (clipped to the grid) as not on the
// screen, so writeCells writes them again.
func (r *renderer) unwrite(rc image.Rectangle) {
	rc = rc.Intersect(image.Rect(0, 0, r.cols, r.vrows))
	for y := rc.Min.Y; y < rc.Max.Y; y++ {
		clear(r.prev[y*r.cols+rc.Min.X : y*r.cols+rc.Max.X])
	}
}

func sameSeqs(ts []view.Tile, seqs []uint64) bool {
	if len(ts) != len(seqs) {
		return false
	}
	for i, t := range ts {
		if t.Seq != seqs[i] || t.Frame == nil && seqs[i] != 0 {
			return false
		}
	}
	return true
}

// layoutScreen sets the scroll region for a new terminal size.
func (r *renderer) layoutScreen(cols, rows int) {
	r.cols, r.rows = cols, rows
	r.vrows = rows - r.cfg.ChatRows
	if r.vrows < 3 {
		r.vrows = 0
	}
	n := cols * max(r.vrows, 0)
	r.cur = make([]cell, n)
	r.prev = make([]cell, n) // zero cells never match: the whole grid is redrawn
	r.kitty.reset(&r.buf)
	r.sixel.reset()
	if r.vrows > 0 {
		fmt.Fprintf(&r.buf, "\x1b[%d;%dr\x1b[%d;1H", r.vrows+1, rows, rows)
		r.buf.WriteString("\x1b7")
		for y := 1; y <= r.vrows; y++ {
			fmt.Fprintf(&r.buf, "\x1b[%d;1H\x1b[0m\x1b[2K", y)
		}
		r.buf.WriteString("\x1b8")
	} else {
		r.buf.WriteString("\x1b[r")
	}
}

// drawTile fills the cells of one tile: the picture above, the name in
// the last row.
func (r *renderer) drawTile(t view.Tile, rc image.Rectangle) (kittyPic, bool) {
	pic := rc
	pic.Max.Y-- // the caption row
	for y := rc.Min.Y; y < rc.Max.Y; y++ {
		for x := rc.Min.X; x < rc.Max.X; x++ {
			r.cur[y*r.cols+x] = cell{ch: ' ', bg: colDark, fg: colDark}
		}
	}
	cy := rc.Max.Y - 1
	r.caption(t, r.cur[cy*r.cols+rc.Min.X:cy*r.cols+rc.Max.X])
	if t.Frame == nil || pic.Dy() <= 0 || pic.Dx() <= 0 {
		return kittyPic{}, false
	}
	fw, fh := t.Frame.Rect.Dx(), t.Frame.Rect.Dy()
	if r.cfg.Mode == "sixel" {
		return kittyPic{id: t.ID, seq: t.Seq, img: t.Frame, at: pic}, true
	}
	if r.cfg.Mode == "kitty" {
		// Cells are about twice as high as wide.
		fit := view.Fit(image.Rect(pic.Min.X, pic.Min.Y*2, pic.Max.X, pic.Max.Y*2), fw, fh)
		cellRect := image.Rect(fit.Min.X, fit.Min.Y/2, fit.Max.X, (fit.Max.Y+1)/2)
		return kittyPic{id: t.ID, seq: t.Seq, img: t.Frame, at: cellRect}, true
	}
	// Half-block pixels: two per cell, one above the other, about square.
	px := image.Rect(pic.Min.X, pic.Min.Y*2, pic.Max.X, pic.Max.Y*2)
	fit := view.Fit(px, fw, fh)
	for y := fit.Min.Y &^ 1; y < fit.Max.Y; y += 2 {
		row := y / 2
		for x := fit.Min.X; x < fit.Max.X; x++ {
			c := &r.cur[row*r.cols+x]
			top, bot := colBlack, colBlack
			if y >= fit.Min.Y {
				top = sample(t.Frame, fit, x, y)
			}
			if y+1 < fit.Max.Y {
				bot = sample(t.Frame, fit, x, y+1)
			}
			*c = cell{ch: '▀', fg: top, bg: bot}
		}
	}
	return kittyPic{}, false
}

// The caption's marks (see view.LayoutCaption): muteMark left of the name
// of a peer whose microphone is off, and three bars (qualityMark) at the
// right end lit by the link's quality. Plain text and block elements, one
// cell each, which every terminal and tmux show.
const (
	muteMark    = "[muted]"
	qualityMark = "▂▄▆"
)

// caption fills row (one tile wide) with t's caption: a grey row, green
// while the peer talks.
func (r *renderer) caption(t view.Tile, row []cell) {
	bg := colCaption
	if t.State.Speaking {
		bg = colSpeaking
	}
	for i := range row {
		row[i] = cell{ch: ' ', bg: bg, fg: colText}
	}
	name := []rune(t.Name)
	mute, quality := 0, 0
	if t.State.MicOff {
		mute = len(muteMark)
	}
	bars := view.QualityBars(t.State.Quality)
	if bars > 0 {
		quality = utf8.RuneCountInString(qualityMark)
	}
	p := view.LayoutCaption(len(row), len(name), mute, quality, 1)
	for i, ch := range name[:p.Name.W] {
		row[p.Name.X+i] = cell{ch: ch, bg: bg, fg: colText}
	}
	for i, ch := range muteMark[:p.Mute.W] {
		row[p.Mute.X+i] = cell{ch: ch, bg: bg, fg: colMuted}
	}
	if p.Quality.W > 0 {
		for i, ch := range []rune(qualityMark) {
			fg := colUnlit
			if i < bars {
				fg = qualityColour[bars]
			}
			row[p.Quality.X+i] = cell{ch: ch, bg: bg, fg: fg}
		}
	}
}

// sample is the colour of the picture at pixel (x, y) of the area fit it
// is shown in: the average of up to 2×2 of the source pixels that pixel
// covers.
func sample(img *image.YCbCr, fit image.Rectangle, x, y int) color.RGBA {
	fw, fh := img.Rect.Dx(), img.Rect.Dy()
	sx0 := (x - fit.Min.X) * fw / fit.Dx()
	sx1 := max((x-fit.Min.X+1)*fw/fit.Dx(), sx0+1)
	sy0 := (y - fit.Min.Y) * fh / fit.Dy()
	sy1 := max((y-fit.Min.Y+1)*fh/fit.Dy(), sy0+1)
	stepX, stepY := max((sx1-sx0)/2, 1), max((sy1-sy0)/2, 1)
	var sr, sg, sb, n int
	for sy := sy0; sy < sy1; sy += stepY {
		for sx := sx0; sx < sx1; sx += stepX {
			c := img.YCbCrAt(img.Rect.Min.X+sx, img.Rect.Min.Y+sy)
			r8, g8, b8 := view.RGB(c.Y, c.Cb, c.Cr)
			sr, sg, sb, n = sr+int(r8), sg+int(g8), sb+int(b8), n+1
		}
	}
	return color.RGBA{byte(sr / n), byte(sg / n), byte(sb / n), 255}
}

// writeCells writes the cells that changed since the last frame, with the
// cursor saved and restored around them.
func (r *renderer) writeCells() {
	b := &r.buf
	b.WriteString("\x1b7")
	var fg, bg color.RGBA
	haveSGR := false
	cursor := -1 // index of the cell the cursor is at, -1 unknown
	var tmp [4]byte
	for i := range r.cur {
		c := r.cur[i]
		if c == r.prev[i] {
			continue
		}
		if cursor != i {
			r.num = append(r.num[:0], "\x1b["...)
			r.num = strconv.AppendInt(r.num, int64(i/r.cols+1), 10)
			r.num = append(r.num, ';')
			r.num = strconv.AppendInt(r.num, int64(i%r.cols+1), 10)
			r.num = append(r.num, 'H')
			b.Write(r.num)
		}
		if !haveSGR || c.fg != fg {
			r.num = sgr(r.num[:0], "\x1b[38;2;", c.fg)
			b.Write(r.num)
		}
		if !haveSGR || c.bg != bg {
			r.num = sgr(r.num[:0], "\x1b[48;2;", c.bg)
			b.Write(r.num)
		}
		fg, bg, haveSGR = c.fg, c.bg, true
		n := utf8.EncodeRune(tmp[:], c.ch)
		b.Write(tmp[:n])
		cursor = i + 1
		if cursor%r.cols == 0 {
			cursor = -1 // the terminal may wrap or not: position explicitly
		}
		r.prev[i] = c
	}
	b.WriteString("\x1b[0m\x1b8")
}

// sgr appends a truecolor SGR sequence (prefix "ESC[38;2;" or "ESC[48;2;").
func sgr(dst []byte, prefix string, c color.RGBA) []byte {
	dst = append(dst, prefix...)
	dst = strconv.AppendInt(dst, int64(c.R), 10)
	dst = append(dst, ';')
	dst = strconv.AppendInt(dst, int64(c.G), 10)
	dst = append(dst, ';')
	dst = strconv.AppendInt(dst, int64(c.B), 10)
	return append(dst, 'm')
}

func (r *renderer) flush() {
	if r.buf.Len() == 0 {
		return
	}
	r.cfg.Lock.Lock()
	_, _ = r.cfg.Out.Write(r.buf.Bytes())
	r.cfg.Lock.Unlock()
	r.buf.Reset()
}

// restore erases the grid and gives the whole screen back.
func (r *renderer) restore() {
	r.buf.Reset()
	r.kitty.reset(&r.buf)
	if r.vrows > 0 {
		r.buf.WriteString("\x1b7")
		for y := 1; y <= r.vrows; y++ {
			fmt.Fprintf(&r.buf, "\x1b[%d;1H\x1b[0m\x1b[2K", y)
		}
		r.buf.WriteString("\x1b8")
	}
	r.buf.WriteString("\x1b[0m\x1b[r")
	if r.rows > 0 {
		fmt.Fprintf(&r.buf, "\x1b[%d;1H", r.rows)
	}
	r.flush()
}
