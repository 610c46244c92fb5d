// Package window shows the view's tiles in a desktop window (SDL2: X11,
// Wayland, or the Linux console through kmsdrm). Built unless the nogui
// build tag is set; with it, Run returns ErrUnavailable and no SDL is
// linked.
package window

import (
	"errors"
	"log/slog"
	"os"
)

var (
	// ErrClosed: the user closed the window (the call should end).
	ErrClosed = errors.New("window: closed")
	// ErrDisplayLost: the X server went away (killed, crashed); the
	// window is gone but the process is not (the call should go on).
	ErrDisplayLost = errors.New("window: X server gone")
	// ErrUnavailable: this binary was built with the nogui tag.
	ErrUnavailable = errors.New("window: not available in this build (nogui)")
)

// Config configures Run.
type Config struct {
	Title string
	// Fullscreen covers the whole screen (for kiosks).
	Fullscreen bool
	// Width and Height of the window (default 1280×720).
	Width, Height int
	// FPS caps the redraws per second (default 30: the frame rate
	// browsers and `videochat join` send at; more would only present the
	// same pictures again).
	FPS int
	// RenderDriver is SDL's render driver ("software", "opengl",
	// "opengles2", …); "" picks the default (see renderDriver). The
	// environment variable SDL_RENDER_DRIVER overrides either.
	RenderDriver string
	// VideoDriver is SDL's video driver ("x11", "wayland", "kmsdrm", …);
	// "" lets SDL choose, except "kmsdrm" (the Linux console, through
	// DRM/KMS) when neither DISPLAY nor WAYLAND_DISPLAY is set. The
	// environment variable SDL_VIDEODRIVER overrides either.
	VideoDriver string
	// YUVTextures keeps SDL's software renderer on IYUV textures that it
	// converts and stretches itself, instead of pictures made at the size
	// shown by libyuv (argb.go): for tests and benchmarks of both paths.
	YUVTextures bool
	// Getenv reads the environment (default os.Getenv).
	Getenv func(string) string
	// OnPresent, when set, is called after each frame is presented
	// (benchmarks count them).
	OnPresent func()
	Logger    *slog.Logger
}

func (c *Config) defaults() {
	if c.Title == "" {
		c.Title = "videochat"
	}
	if c.Width <= 0 || c.Height <= 0 {
		c.Width, c.Height = 1280, 720
	}
	if c.FPS <= 0 {
		c.FPS = 30
	}
	if c.Getenv == nil {
		c.Getenv = os.Getenv
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// DisplayAvailable reports whether there is a display to open a window on:
// an X11 or Wayland session, or a Linux console with a DRM device (kmsdrm).
func DisplayAvailable(getenv func(string) string) bool {
	if !Available {
		return false
	}
	if getenv("DISPLAY") != "" || getenv("WAYLAND_DISPLAY") != "" {
		return true
	}
	if getenv("TERM") == "linux" {
		if _, err := os.Stat("/dev/dri/card0"); err == nil {
			return true
		}
	}
	return false
}

// videoDriver is the video driver Run asks SDL for ("": SDL's choice).
func (c *Config) videoDriver() string {
	if c.VideoDriver != "" {
		return c.VideoDriver
	}
	if c.Getenv("DISPLAY") == "" && c.Getenv("WAYLAND_DISPLAY") == "" {
		return "kmsdrm"
	}
	return ""
}
