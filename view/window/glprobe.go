//go:build !nogui

package window

// The GL implementation behind SDL's "opengl"/"opengles2" renderers, read
// once when the window opens so that Run can leave a software rasteriser
// (Mesa's llvmpipe on a machine without a GPU, as under Xvfb) for SDL's
// own software renderer, which costs about a third as much here
// (BENCHMARKS.md, "Remote video view").

/*
#cgo linux freebsd darwin openbsd pkg-config: sdl2
#include <SDL.h>

typedef const unsigned char *(*vc_glGetString)(unsigned int);

// vc_gl_renderer is glGetString(GL_RENDERER) of the current GL context,
// or NULL.
static const char *vc_gl_renderer(void) {
	vc_glGetString f = (vc_glGetString)SDL_GL_GetProcAddress("glGetString");
	if (f == NULL) {
		return NULL;
	}
	return (const char *)f(0x1F01);
}
*/
import "C"

import "strings"

// glRenderer is the GL_RENDERER string of the GL context current on this
// thread ("" when there is none).
func glRenderer() string {
	s := C.vc_gl_renderer()
	if s == nil {
		return ""
	}
	return C.GoString(s)
}

// softwareGL reports whether a GL_RENDERER string names a software
// rasteriser: Mesa's llvmpipe, softpipe, swrast or OpenSWR.
func softwareGL(renderer string) bool {
	r := strings.ToLower(renderer)
	for _, s := range []string{"llvmpipe", "softpipe", "software rasterizer", "swr"} {
		if strings.Contains(r, s) {
			return true
		}
	}
	return false
}
