//go:build !nogui

package window

import (
	"testing"

	"github.com/videochat/videochat/view/internal/vtest"
)

// TestVideoDriver: without DISPLAY and WAYLAND_DISPLAY the window asks SDL
// for kmsdrm (the Linux console); with either, SDL chooses; an explicit
// driver always wins.
func TestVideoDriver(t *testing.T) {
	env := vtest.Env
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Getenv: env()}, "kmsdrm"},
		{Config{Getenv: env("TERM", "linux")}, "kmsdrm"},
		{Config{Getenv: env("DISPLAY", ":0")}, ""},
		{Config{Getenv: env("WAYLAND_DISPLAY", "wayland-0")}, ""},
		{Config{Getenv: env(), VideoDriver: "x11"}, "x11"},
	} {
		c.cfg.defaults()
		if got := c.cfg.videoDriver(); got != c.want {
			t.Errorf("%+v: video driver %q, want %q", c.cfg.VideoDriver, got, c.want)
		}
	}
}

// TestSoftwareGL: the GL_RENDERER strings of Mesa's software rasterisers
// are recognised, GPU drivers' are not.
func TestSoftwareGL(t *testing.T) {
	for s, want := range map[string]bool{
		"llvmpipe (LLVM 15.0.6, 256 bits)":         true,
		"softpipe":                                 true,
		"Mesa X11 Software Rasterizer":             true,
		"Mesa Intel(R) UHD Graphics 620 (KBL GT2)": false,
		"V3D 4.2":                           false,
		"NVIDIA GeForce GTX 1060/PCIe/SSE2": false,
		"":                                  false,
	} {
		if got := softwareGL(s); got != want {
			t.Errorf("softwareGL(%q) = %v", s, got)
		}
	}
}
