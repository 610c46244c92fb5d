// Package xscreen is the X11 screen driver of the capture package: it
// grabs a screen's root window with Xlib (MIT-SHM when the server offers
// it, plain XGetImage otherwise) and delivers RGBA frames at the rate
// asked for, through mediadevices' driver interfaces.
//
// Invariants:
//   - An X server that dies (killed, crashed, connection lost) is an error
//     from Read, never the end of the process: every display this package
//     opens is registered with capture/xio, whose I/O error handling
//     returns for it and marks it dead. After the error no Xlib call is
//     made on the display (xio.Conn.Close only closes its socket).
//   - Screens are counted when a command needs them (Screens), never at
//     program start.
//   - A Screen is used by one goroutine at a time (the pipeline that
//     opened it); Open after Close opens a new connection, so a display
//     that comes back is picked up by the next Open.
package xscreen

// #cgo pkg-config: x11 xext
// #include <pthread.h>
// #include <stdlib.h>
// #include <string.h>
// #include <unistd.h>
// #include <sys/ipc.h>
// #include <sys/shm.h>
// #include <X11/Xlib.h>
// #include <X11/Xutil.h>
// #include <X11/extensions/XShm.h>
//
// typedef struct {
//   Display *dpy; // the xio connection's
//   volatile int *dead; // xio's flag: the connection is gone
//   int screen, w, h, useShm;
//   XImage *img;
//   XShmSegmentInfo shm;
// } vc_grab;
//
// static int vc_screens(Display *d) { return ScreenCount(d); }
//
// static void vc_free(vc_grab *g) {
//   if (g->img) {
//     if (g->useShm) {
//       if (!*g->dead) XShmDetach(g->dpy, &g->shm);
//       XDestroyImage(g->img);
//       shmdt(g->shm.shmaddr);
//     } else {
//       XDestroyImage(g->img);
//     }
//     g->img = NULL;
//   }
//   free(g);
// }
//
// // vc_open prepares the grab on g->dpy: 0, or -2: no such screen, -3:
// // no shared memory segment.
// static int vc_open(vc_grab *g, int screen) {
//   if (screen < 0 || screen >= ScreenCount(g->dpy)) return -2;
//   g->screen = screen;
//   g->w = DisplayWidth(g->dpy, screen);
//   g->h = DisplayHeight(g->dpy, screen);
//   g->useShm = XShmQueryExtension(g->dpy);
//   if (!g->useShm) return 0;
//   g->img = XShmCreateImage(g->dpy, DefaultVisual(g->dpy, screen), DefaultDepth(g->dpy, screen),
//                            ZPixmap, NULL, &g->shm, g->w, g->h);
//   if (!g->img) return -3;
//   g->shm.shmid = shmget(IPC_PRIVATE, g->img->bytes_per_line * g->img->height, IPC_CREAT | 0600);
//   if (g->shm.shmid < 0) { XDestroyImage(g->img); g->img = NULL; return -3; }
//   g->shm.shmaddr = g->img->data = shmat(g->shm.shmid, NULL, 0);
//   shmctl(g->shm.shmid, IPC_RMID, NULL); // freed once both sides detach
//   if (g->shm.shmaddr == (char *)-1) { g->img->data = NULL; XDestroyImage(g->img); g->img = NULL; return -3; }
//   g->shm.readOnly = False;
//   XShmAttach(g->dpy, &g->shm);
//   XSync(g->dpy, False);
//   return 0;
// }
//
// // vc_grab_rgba copies the screen into dst (w*h*4 bytes, RGBA). It
// // returns 0, -1 when the connection is gone, -2 for a pixel format other
// // than 32-bit xRGB.
// static int vc_grab_rgba(vc_grab *g, unsigned char *dst) {
//   if (*g->dead) return -1;
//   XImage *img = g->img;
//   if (g->useShm) {
//     if (!XShmGetImage(g->dpy, RootWindow(g->dpy, g->screen), img, 0, 0, AllPlanes) || *g->dead) return -1;
//   } else {
//     img = XGetImage(g->dpy, RootWindow(g->dpy, g->screen), 0, 0, g->w, g->h, AllPlanes, ZPixmap);
//     if (!img || *g->dead) { if (img) XDestroyImage(img); return -1; }
//   }
//   int ret = 0;
//   if (img->bits_per_pixel != 32 || img->red_mask != 0xff0000 || img->green_mask != 0xff00 || img->blue_mask != 0xff) {
//     ret = -2;
//   } else {
//     for (int y = 0; y < g->h; y++) {
//       const unsigned char *s = (const unsigned char *)img->data + (size_t)y * img->bytes_per_line;
//       unsigned char *d = dst + (size_t)y * g->w * 4;
//       for (int x = 0; x < g->w; x++, s += 4, d += 4) {
//         d[0] = s[2]; d[1] = s[1]; d[2] = s[0]; d[3] = 255; // memory order B, G, R, x
//       }
//     }
//   }
//   if (!g->useShm) XDestroyImage(img);
//   return ret;
// }
import "C"

import (
	"errors"
	"fmt"
	"image"
	"os"
	"time"
	"unsafe"

	"github.com/pion/mediadevices/pkg/driver"
	"github.com/pion/mediadevices/pkg/frame"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"

	"github.com/videochat/videochat/capture/xio"
)

// ErrGone is what Read returns once the X server has gone away.
var ErrGone = errors.New("X server connection lost")

// Screens counts the screens of $DISPLAY; 0 when it is not set or cannot
// be opened.
func Screens() int {
	if os.Getenv("DISPLAY") == "" {
		return 0
	}
	c, err := xio.Open()
	if err != nil {
		return 0
	}
	defer c.Close()
	return int(C.vc_screens((*C.Display)(c.Display())))
}

// Screen is screen N of $DISPLAY as a mediadevices video driver.
type Screen struct {
	num  int
	conn *xio.Conn  // nil while closed
	g    *C.vc_grab // nil while closed
	tick *time.Ticker
}

// New returns the driver of screen num; nothing is opened yet.
func New(num int) *Screen { return &Screen{num: num} }

var (
	_ driver.Driver        = (*Screen)(nil)
	_ driver.VideoRecorder = (*Screen)(nil)
)

func (s *Screen) ID() string { return fmt.Sprintf("X11Screen%d", s.num) }

func (s *Screen) Info() driver.Info {
	return driver.Info{Label: s.ID(), Name: fmt.Sprintf("X11 screen %d of %s", s.num, os.Getenv("DISPLAY")), DeviceType: driver.Screen}
}

func (s *Screen) Status() driver.State {
	if s.g != nil {
		return driver.StateOpened
	}
	return driver.StateClosed
}

// Open connects to the display and prepares the grab of the screen.
func (s *Screen) Open() error {
	if s.g != nil {
		return errors.New("xscreen: already open")
	}
	conn, err := xio.Open()
	if err != nil {
		return fmt.Errorf("xscreen: %w", err) // xio: cannot open display …
	}
	g := (*C.vc_grab)(C.calloc(1, C.sizeof_vc_grab))
	g.dpy, g.dead = (*C.Display)(conn.Display()), (*C.int)(conn.DeadFlag())
	switch C.vc_open(g, C.int(s.num)) {
	case 0:
		s.g, s.conn = g, conn
		return nil
	case -2:
		err = fmt.Errorf("xscreen: display %q has no screen %d", os.Getenv("DISPLAY"), s.num)
	default:
		err = errors.New("xscreen: no shared memory for the screen image")
	}
	C.vc_free(g)
	conn.Close()
	return err
}

// Close disconnects; it is safe on a display whose server has died.
func (s *Screen) Close() error {
	if s.tick != nil {
		s.tick.Stop()
		s.tick = nil
	}
	if s.g != nil {
		C.vc_free(s.g)
		s.conn.Close()
		s.g, s.conn = nil, nil
	}
	return nil
}

// Properties is the screen's one mode: its size, RGBA. Known once open.
func (s *Screen) Properties() []prop.Media {
	if s.g == nil {
		return nil
	}
	return []prop.Media{{DeviceID: s.ID(), Video: prop.Video{
		Width: int(s.g.w), Height: int(s.g.h), FrameFormat: frame.FormatRGBA}}}
}

// VideoRecord returns a reader of frames paced at p.FrameRate (10 if 0).
// Its frame is reused by the next Read.
func (s *Screen) VideoRecord(p prop.Media) (video.Reader, error) {
	if s.g == nil {
		return nil, errors.New("xscreen: not open")
	}
	fps := p.FrameRate
	if fps <= 0 {
		fps = 10
	}
	s.tick = time.NewTicker(time.Duration(float32(time.Second) / fps))
	w, h := int(s.g.w), int(s.g.h)
	img := &image.RGBA{Pix: make([]byte, w*h*4), Stride: w * 4, Rect: image.Rect(0, 0, w, h)}
	tick, g := s.tick, s.g
	return video.ReaderFunc(func() (image.Image, func(), error) {
		<-tick.C
		switch C.vc_grab_rgba(g, (*C.uchar)(unsafe.Pointer(&img.Pix[0]))) {
		case 0:
			return img, func() {}, nil
		case -2:
			return nil, func() {}, errors.New("xscreen: unsupported pixel format (want 24-bit colour in 32-bit pixels)")
		}
		return nil, func() {}, ErrGone
	}), nil
}
