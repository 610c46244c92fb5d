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
	// FPS caps the redraws per second (default 60).
	FPS    int
	Logger *slog.Logger
}

func (c *Config) defaults() {
	if c.Title == "" {
		c.Title = "videochat"
	}
	if c.Width <= 0 || c.Height <= 0 {
		c.Width, c.Height = 1280, 720
	}
	if c.FPS <= 0 {
		c.FPS = 60
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
