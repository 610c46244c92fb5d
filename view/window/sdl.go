//go:build !nogui

package window

// The SDL side. Invariants:
//   - Every SDL call happens on the one OS thread Run locks; no other
//     goroutine touches SDL. Frames come in only through Source.Tiles,
//     whose images are immutable.
//   - Each tile has one streaming picture texture and one caption texture;
//     both are destroyed when the tile goes and when Run returns. The
//     picture texture is IYUV at the frame's size, or, on SDL's software
//     renderer, the window surface's RGB format at the size shown, made by
//     libyuv (argb.go); it is re-made when that size changes and written
//     only when the frame changes.
//   - It redraws only when a tile, the layout or the window changed, at
//     most Config.FPS times a second; two peers' new frames share a redraw.
//     On the software renderer a redraw for new frames alone (same tiles,
//     states, sizes; no window event) draws only those pictures over the
//     last present (drawPictures).
//   - The renderer is the one SDL_RENDER_DRIVER names, else SDL's first
//     accelerated one unless that is GL on a software rasteriser (no GPU),
//     else SDL's software renderer drawing into the window's own surface
//     (openRenderer). Hints are set with normal priority, so the same
//     SDL_* environment variables override them.
//   - Run returns ErrClosed when the user closes the window, nil when ctx
//     ends; SDL is shut down before it returns.
//   - The death of the X server ends Run (ErrDisplayLost), not the
//     process: SDL's X11 display is registered with capture/xio, whose
//     I/O error handling returns for it and marks it dead. Once it is dead
//     no SDL call is made any more, not even the cleanup (SDL_Quit would
//     close the display, and XCloseDisplay can hang on a dead one): SDL's
//     state, the window's structs and one slot of xio's registry are
//     abandoned. SDL stays initialised, so a later Run in the same
//     process fails (join runs it once).

import (
	"context"
	"fmt"
	"image"
	"runtime"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/veandco/go-sdl2/sdl"

	"github.com/videochat/videochat/capture/xio"
	"github.com/videochat/videochat/view"
)

// Available is true when the window view is built in.
const Available = true

// Source is what the window shows: view.View implements it.
type Source interface {
	Tiles() ([]view.Tile, uint64)
}

var (
	colDark    = sdl.Color{R: 28, G: 28, B: 28, A: 255}
	colCaption = sdl.Color{R: 60, G: 60, B: 60, A: 255}
)

type tileTex struct {
	pic     *sdl.Texture
	w, h    int    // pic's size: the frame's (IYUV) or the size shown (argb)
	format  uint32 // pic's pixel format
	seq     uint64 // the frame in pic
	row     []byte // showARGB's row buffer
	name    string
	caption *sdl.Texture
	cw, ch  int32
	seen    bool
}

func (t *tileTex) destroy() {
	if t.pic != nil {
		_ = t.pic.Destroy()
	}
	if t.caption != nil {
		_ = t.caption.Destroy()
	}
}

// Run opens the window and draws src until ctx ends or the user closes it.
func Run(ctx context.Context, cfg Config, src Source) error {
	cfg.defaults()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	sdl.SetHint(sdl.HINT_NO_SIGNAL_HANDLERS, "1") // SIGINT stays with Go
	sdl.SetHint(sdl.HINT_RENDER_SCALE_QUALITY, "1")
	sdl.SetHint("SDL_YUV_CONVERSION_MODE", "BT601") // what VP8 and H.264 streams use
	// Hints set here have normal priority: the same SDL_* variables in
	// the environment win over them.
	if drv := cfg.videoDriver(); drv != "" {
		sdl.SetHint("SDL_VIDEODRIVER", drv)
	}
	if cfg.RenderDriver != "" {
		sdl.SetHint(sdl.HINT_RENDER_DRIVER, cfg.RenderDriver)
	}
	// The software renderer draws into the window's own surface, put
	// on the screen as it is (MIT-SHM on X11), not through a GL texture.
	sdl.SetHint(sdl.HINT_FRAMEBUFFER_ACCELERATION, "0")
	if err := sdl.Init(sdl.INIT_VIDEO); err != nil {
		return fmt.Errorf("window: %w", err)
	}
	var xc *xio.Conn // SDL's X11 display (nil on other video drivers)
	gone := func() bool { return xc != nil && xc.Dead() }
	defer func() {
		if gone() {
			return // no SDL call on a dead display (see the invariants)
		}
		if xc != nil {
			xc.Forget() // before SDL_Quit closes the display
		}
		sdl.Quit()
	}()
	flags := uint32(sdl.WINDOW_SHOWN | sdl.WINDOW_RESIZABLE)
	x, y := int32(sdl.WINDOWPOS_CENTERED), int32(sdl.WINDOWPOS_CENTERED)
	w, h := int32(cfg.Width), int32(cfg.Height)
	if b, err := sdl.GetDisplayBounds(0); err == nil {
		if cfg.Fullscreen {
			// The whole display, also without a window manager (a kiosk
			// on bare X or kmsdrm) that would apply the fullscreen state.
			flags |= sdl.WINDOW_FULLSCREEN_DESKTOP | sdl.WINDOW_BORDERLESS
			x, y, w, h = b.X, b.Y, b.W, b.H
		} else {
			w, h = min(w, b.W), min(h, b.H)
		}
	}
	win, err := sdl.CreateWindow(cfg.Title, x, y, w, h, flags)
	if err != nil {
		return fmt.Errorf("window: %w", err)
	}
	defer func() {
		if !gone() {
			_ = win.Destroy()
		}
	}()
	if xc, err = watchX11(win); err != nil {
		return fmt.Errorf("window: %w", err)
	}
	ren, gl, err := openRenderer(win)
	if err != nil {
		return fmt.Errorf("window: %w", err)
	}
	defer func() {
		if !gone() {
			_ = ren.Destroy()
		}
	}()
	var argb uint32 // the software renderer's picture format (argb.go); 0: IYUV textures
	if info, err := ren.GetInfo(); err == nil {
		if info.Name == "software" {
			// Nearest-pixel scaling: linear costs the software renderer
			// a quarter more of its CPU (BenchmarkWindowCPU).
			sdl.SetHint(sdl.HINT_RENDER_SCALE_QUALITY, "0")
			// libyuv scales by nearest pixel too; SDL_RENDER_SCALE_QUALITY
			// asking for more keeps SDL's own scaling.
			if q := sdl.GetHint(sdl.HINT_RENDER_SCALE_QUALITY); !cfg.YUVTextures && (q == "0" || q == "nearest") {
				argb = argbFormat(win)
			}
		}
		drv, _ := sdl.GetCurrentVideoDriver()
		cfg.Logger.Info("window open", "renderer", info.Name, "gl", gl, "driver", drv,
			"scale", sdl.GetHint(sdl.HINT_RENDER_SCALE_QUALITY), "libyuv", argb != 0)
	}
	texs := map[string]*tileTex{}
	defer func() {
		if gone() {
			return
		}
		for _, t := range texs {
			t.destroy()
		}
	}()
	// Look for events and new frames pollHz times a second (at least), but
	// present at most cfg.FPS times a second: two peers' frames that come
	// out of phase share one present.
	poll := time.Second / time.Duration(max(pollHz, cfg.FPS))
	gap := time.Second/time.Duration(cfg.FPS) - poll/2
	tick := time.NewTicker(poll)
	defer tick.Stop()
	var presented time.Time
	var last, now []uint64 // what was drawn (drawnState): redraw only when it changes
	all := true            // the next draw is of everything (draw1), not only new pictures
	// Lip sync: the view releases frames early by the time they take to
	// reach the screen (view/display.go).
	delays, _ := src.(interface{ SetDisplayDelay(time.Duration) })
	meter := view.DelayMeter{Interval: time.Second / time.Duration(cfg.FPS)}
	for {
		dirty := false
		for ev := sdl.PollEvent(); ev != nil; ev = sdl.PollEvent() {
			switch e := ev.(type) {
			case *sdl.QuitEvent:
				return ErrClosed
			case *sdl.WindowEvent:
				if e.Event == sdl.WINDOWEVENT_CLOSE {
					return ErrClosed
				}
				dirty = true // exposed, resized, shown…
			case *sdl.KeyboardEvent:
				if e.Type == sdl.KEYDOWN && e.Keysym.Sym == sdl.K_F11 {
					if win.GetFlags()&sdl.WINDOW_FULLSCREEN_DESKTOP != 0 {
						_ = win.SetFullscreen(0)
					} else {
						_ = win.SetFullscreen(sdl.WINDOW_FULLSCREEN_DESKTOP)
					}
				}
			}
		}
		if gone() {
			return lost(cfg)
		}
		taken := time.Now()
		tiles, ver := src.Tiles()
		w, h, err := ren.GetOutputSize()
		if err != nil {
			return fmt.Errorf("window: %w", err)
		}
		now = drawnState(now[:0], ver, w, h, tiles)
		if dirty || !slices.Equal(now, last) && time.Since(presented) >= gap {
			var err error
			if argb != 0 && !all && !dirty && onlyPictures(now, last) {
				err = drawPictures(ren, argb, tiles, int(w), int(h), texs, last)
			} else {
				err = draw1(ren, argb, tiles, int(w), int(h), texs)
			}
			if gone() {
				return lost(cfg)
			}
			all = err != nil
			if err != nil {
				cfg.Logger.Warn("window draw", "err", err)
			}
			if delays != nil {
				delays.SetDisplayDelay(meter.Frame(time.Since(taken)))
			}
			last, now = now, last
			presented = time.Now()
			if cfg.OnPresent != nil {
				cfg.OnPresent()
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// watchX11 registers win's X11 display with capture/xio, so that the X
// server's death is marked (xio.Conn.Dead) instead of ending the process;
// nil when win is not on X11.
func watchX11(win *sdl.Window) (*xio.Conn, error) {
	info, err := win.GetWMInfo()
	if err != nil || info.Subsystem != sdl.SYSWM_X11 {
		return nil, nil // not X11: nothing to watch
	}
	return xio.Watch(info.GetX11Info().Display)
}

// lost is Run's error once the X server has gone.
func lost(cfg Config) error {
	return fmt.Errorf("%w (DISPLAY=%s)", ErrDisplayLost, cfg.Getenv("DISPLAY"))
}

// openRenderer creates win's renderer: the one SDL_RENDER_DRIVER names
// (Config.RenderDriver or the environment), else SDL's first accelerated
// one unless that is GL drawn by a software rasteriser (no GPU: Mesa's
// llvmpipe), which costs about three times SDL's software renderer here;
// then the software renderer. gl is the GL_RENDERER string of a GL
// renderer that was tried.
func openRenderer(win *sdl.Window) (ren *sdl.Renderer, gl string, err error) {
	if sdl.GetHint(sdl.HINT_RENDER_DRIVER) != "" {
		ren, err := sdl.CreateRenderer(win, -1, 0)
		if err == nil {
			gl = currentGL(ren)
		}
		return ren, gl, err
	}
	ren, err = sdl.CreateRenderer(win, -1, sdl.RENDERER_ACCELERATED)
	if err == nil {
		if gl = currentGL(ren); !softwareGL(gl) {
			return ren, gl, nil
		}
		_ = ren.Destroy()
	}
	ren, err = sdl.CreateRenderer(win, -1, sdl.RENDERER_SOFTWARE)
	return ren, gl, err
}

// currentGL is the GL_RENDERER of ren's GL context ("" when ren is not a
// GL renderer).
func currentGL(ren *sdl.Renderer) string {
	info, err := ren.GetInfo()
	if err != nil || !strings.HasPrefix(info.Name, "opengl") {
		return ""
	}
	return glRenderer()
}

// pollHz is how often Run looks for events and new frames: as often as it
// presents (Config.FPS, 30 by default) unless that is lower. Each poll
// hands the Go scheduler's P to this locked thread and back; 60 polls a
// second cost the viewer ≈ 8 % more CPU than 30 for the same frames shown
// (BENCHMARKS.md, "Remote video view", issue 12 second follow-up).
// Decoding does not depend on it: decoders never wait for the renderer
// (view.TestDecodingIndependentOfRenderer).
const pollHz = 30

// drawnState appends to s what a drawing of tiles in a w×h window shows:
// ver, w, h, then per tile stateLen values: its Seq, and its picture's
// size (0×0 without one).
func drawnState(s []uint64, ver uint64, w, h int32, tiles []view.Tile) []uint64 {
	s = append(s, ver, uint64(w), uint64(h))
	for _, t := range tiles {
		var fw, fh int
		if t.Frame != nil {
			fw, fh = max(1, t.Frame.Rect.Dx()), max(1, t.Frame.Rect.Dy())
		}
		s = append(s, t.Seq, uint64(fw), uint64(fh))
	}
	return s
}

const stateLen = 3 // drawnState's values per tile

// onlyPictures: now differs from last (drawnState) only in tiles' Seq.
func onlyPictures(now, last []uint64) bool {
	if len(now) != len(last) || !slices.Equal(now[:3], last[:3]) {
		return false
	}
	for i := 3; i < len(now); i += stateLen {
		if !slices.Equal(now[i+1:i+stateLen], last[i+1:i+stateLen]) {
			return false
		}
	}
	return true
}

// drawPictures draws, over the last present, only the pictures of tiles
// whose Seq changed since last (drawnState of that present) and the marks
// of those tiles (the speaking border covers the picture's edge). Only for
// the software renderer, which draws into the window's own surface and
// keeps it from one present to the next (SDL_RenderPresent there is
// SDL_UpdateWindowSurface); everything else is as draw1 left it: the same
// tiles, layout, states and picture sizes (onlyPictures), no window event.
// Two peers' frames then cost one picture each, not a redraw of the window.
func drawPictures(ren *sdl.Renderer, argb uint32, tiles []view.Tile, w, h int, texs map[string]*tileTex, last []uint64) error {
	rects := Rects(len(tiles), w, h)
	for i, t := range tiles {
		if t.Seq == last[3+i*stateLen] {
			continue
		}
		tt := texs[t.ID]
		r := rects[i]
		if tt == nil { // not drawn by draw1: cannot happen with onlyPictures
			return draw1(ren, argb, tiles, w, h, texs)
		}
		if r.Picture.Empty() || r.Caption.Empty() {
			continue // draw1 draws nothing there either
		}
		if err := drawPicture(ren, argb, t, tt, r.Picture); err != nil {
			return err
		}
		for _, m := range Decorate(r, int(tt.cw), int(tt.ch), t.State).Marks {
			fill(ren, m.Rect, sdl.Color{R: m.Color.R, G: m.Color.G, B: m.Color.B, A: m.Color.A})
		}
	}
	ren.Present()
	return nil
}

// draw1 draws one frame of the tiles in a w×h window; argb: see drawPicture.
func draw1(ren *sdl.Renderer, argb uint32, tiles []view.Tile, w, h int, texs map[string]*tileTex) error {
	for _, t := range texs {
		t.seen = false
	}
	rects := Rects(len(tiles), w, h)
	// Every pixel is drawn: the tiles (drawTile) and black around them,
	// not a clear of the whole window under them (a full write of the
	// window per present on the software renderer).
	whole := false
	for _, r := range rects {
		whole = whole || r.Picture.Empty() || r.Caption.Empty() // drawTile draws nothing
	}
	if whole {
		_ = ren.SetDrawColor(0, 0, 0, 255)
		_ = ren.Clear()
	} else {
		for _, r := range Uncovered(w, h, rects) {
			fill(ren, r, sdl.Color{A: 255})
		}
	}
	for i, t := range tiles {
		tt := texs[t.ID]
		if tt == nil {
			tt = &tileTex{}
			texs[t.ID] = tt
		}
		tt.seen = true
		if err := drawTile(ren, argb, t, tt, rects[i]); err != nil {
			return err
		}
	}
	for id, t := range texs {
		if !t.seen {
			t.destroy()
			delete(texs, id)
		}
	}
	ren.Present()
	return nil
}

func sdlRect(r image.Rectangle) *sdl.Rect {
	return &sdl.Rect{X: int32(r.Min.X), Y: int32(r.Min.Y), W: int32(r.Dx()), H: int32(r.Dy())}
}

func fill(ren *sdl.Renderer, r image.Rectangle, c sdl.Color) {
	_ = ren.SetDrawColor(c.R, c.G, c.B, c.A)
	_ = ren.FillRect(sdlRect(r))
}

// drawTile draws the picture (fitted, on a dark tile; none while the
// peer's camera is off), the caption strip with the name under it, and the
// marks of the peer's state (Decorate).
func drawTile(ren *sdl.Renderer, argb uint32, t view.Tile, tt *tileTex, r TileRects) error {
	pic, capRect := r.Picture, r.Caption
	if pic.Empty() || capRect.Empty() {
		return nil
	}
	fillAround(ren, pic, picRect(t, pic), colDark)
	fill(ren, capRect, colCaption)
	if err := makeCaption(ren, t.Name, tt); err != nil {
		return err
	}
	d := Decorate(r, int(tt.cw), int(tt.ch), t.State)
	if tt.caption != nil && !d.Name.Empty() {
		src := &sdl.Rect{W: int32(d.Name.Dx()), H: tt.ch}
		if err := ren.Copy(tt.caption, src, sdlRect(d.Name)); err != nil {
			return err
		}
	}
	if err := drawPicture(ren, argb, t, tt, pic); err != nil {
		return err
	}
	for _, m := range d.Marks {
		fill(ren, m.Rect, sdl.Color{R: m.Color.R, G: m.Color.G, B: m.Color.B, A: m.Color.A})
	}
	return nil
}

// picRect is where t's picture goes in pic (empty: no picture).
func picRect(t view.Tile, pic image.Rectangle) image.Rectangle {
	if t.Frame == nil {
		return image.Rectangle{}
	}
	return view.Fit(pic, t.Frame.Rect.Dx(), t.Frame.Rect.Dy())
}

// fillAround fills r but for its part in (which is drawn over anyway).
func fillAround(ren *sdl.Renderer, r, in image.Rectangle, c sdl.Color) {
	in = in.Intersect(r)
	if in.Empty() {
		fill(ren, r, c)
		return
	}
	for _, bar := range [4]image.Rectangle{
		{Min: r.Min, Max: image.Pt(r.Max.X, in.Min.Y)},
		{Min: image.Pt(r.Min.X, in.Max.Y), Max: r.Max},
		{Min: image.Pt(r.Min.X, in.Min.Y), Max: image.Pt(in.Min.X, in.Max.Y)},
		{Min: image.Pt(in.Max.X, in.Min.Y), Max: image.Pt(r.Max.X, in.Max.Y)},
	} {
		if !bar.Empty() {
			fill(ren, bar, c)
		}
	}
}

// drawPicture uploads t's frame when it changed and draws it fitted in pic:
// with argb (a 32-bit format, the software renderer) made at the size
// shown in that format by libyuv (argb.go), else as an IYUV texture that
// the renderer converts and scales.
func drawPicture(ren *sdl.Renderer, argb uint32, t view.Tile, tt *tileTex, pic image.Rectangle) error {
	if t.Frame == nil {
		return nil
	}
	f := t.Frame
	at := picRect(t, pic)
	w, h, format := f.Rect.Dx(), f.Rect.Dy(), uint32(sdl.PIXELFORMAT_IYUV)
	if argb != 0 && f.SubsampleRatio == image.YCbCrSubsampleRatio420 {
		if at.Empty() {
			return nil // no room for it
		}
		w, h, format = at.Dx(), at.Dy(), argb
	}
	if tt.pic == nil || tt.w != w || tt.h != h || tt.format != format {
		if tt.pic != nil {
			_ = tt.pic.Destroy()
		}
		tex, err := ren.CreateTexture(format, sdl.TEXTUREACCESS_STREAMING, int32(w), int32(h))
		if err != nil {
			tt.pic = nil
			return err
		}
		if format == argb {
			_ = tex.SetBlendMode(sdl.BLENDMODE_NONE) // a copy, also when the format has alpha
		}
		tt.pic, tt.w, tt.h, tt.format, tt.seq = tex, w, h, format, t.Seq-1
	}
	if tt.seq != t.Seq {
		var err error
		if format == sdl.PIXELFORMAT_IYUV {
			err = tt.pic.UpdateYUV(nil, f.Y, f.YStride, f.Cb, f.CStride, f.Cr, f.CStride)
		} else {
			err = showARGB(tt.pic, f, w, h, &tt.row)
		}
		if err != nil {
			return err
		}
		tt.seq = t.Seq
	}
	return ren.Copy(tt.pic, nil, sdlRect(at))
}

// makeCaption makes the texture of Caption(name) once per name (none for
// an empty name); it is copied 1:1 where Decorate puts the name.
func makeCaption(ren *sdl.Renderer, name string, tt *tileTex) error {
	if tt.caption != nil && tt.name == name {
		return nil
	}
	if tt.caption != nil {
		_ = tt.caption.Destroy()
	}
	tt.caption, tt.name, tt.cw, tt.ch = nil, name, 0, 0
	img := Caption(name)
	if img == nil {
		return nil
	}
	b := img.Bounds()
	tex, err := ren.CreateTexture(sdl.PIXELFORMAT_ABGR8888, sdl.TEXTUREACCESS_STATIC, int32(b.Dx()), int32(b.Dy()))
	if err != nil {
		return err
	}
	if err := tex.Update(nil, unsafe.Pointer(&img.Pix[0]), img.Stride); err != nil {
		_ = tex.Destroy()
		return err
	}
	_ = tex.SetBlendMode(sdl.BLENDMODE_BLEND)
	tt.caption, tt.cw, tt.ch = tex, int32(b.Dx()), int32(b.Dy())
	return nil
}
