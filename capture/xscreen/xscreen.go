// Package xscreen is the X11 screen driver of the capture package: it
// grabs a screen's root window with Xlib (MIT-SHM when the server offers
// it, plain XGetImage otherwise) and delivers RGBA frames at the rate
// asked for, through mediadevices' driver interfaces.
//
// Invariants:
//   - An X server that dies (killed, crashed, connection lost) is an error
//     from Read, never the end of the process. Xlib's default I/O error
//     handling calls exit(); every display this package opens has an
//     exit handler that returns (XSetIOErrorExitHandler, libX11 ≥ 1.7), and
//     the process's I/O error handler returns for our displays, so that
//     Xlib gets to call it. Displays opened by other code (the SDL window
//     of the view) get the handler it replaced and Xlib's default exit
//     handler: for them an I/O error still ends the process, with Xlib's
//     message, as before. After the error no Xlib call is made on our
//     display: its socket is closed and its Display struct abandoned
//     (vc_disconnect).
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
//   Display *dpy;
//   int screen, w, h, useShm;
//   XImage *img;
//   XShmSegmentInfo shm;
//   volatile int dead; // set by the exit handler: the connection is gone
// } vc_grab;
//
// static void vc_io_exit(Display *d, void *p) { (void)d; ((vc_grab*)p)->dead = 1; }
//
// // The I/O error handler is one per process (Xlib's), so what it needs is
// // too: the handler it replaced, and the displays that are ours.
// static pthread_mutex_t vc_mu = PTHREAD_MUTEX_INITIALIZER;
// static XIOErrorHandler vc_prev;
// static Display *vc_ours[64];
//
// static void vc_mark(Display *d, Display *with) {
//   pthread_mutex_lock(&vc_mu);
//   for (int i = 0; i < 64; i++) if (vc_ours[i] == d) { vc_ours[i] = with; break; }
//   pthread_mutex_unlock(&vc_mu);
// }
//
// // vc_io_error: our displays go on to their exit handler, which returns;
// // any other display (the SDL window's) gets the handler we replaced, as
// // before (Xlib's default prints the error and exits).
// static int vc_io_error(Display *d) {
//   int ours = 0;
//   XIOErrorHandler prev;
//   pthread_mutex_lock(&vc_mu);
//   for (int i = 0; i < 64; i++) if (vc_ours[i] == d) ours = 1;
//   prev = vc_prev;
//   pthread_mutex_unlock(&vc_mu);
//   if (!ours && prev) return prev(d);
//   return 0;
// }
//
// // vc_connect opens the display with the non-exiting I/O error handling.
// static Display *vc_connect(vc_grab *g) {
//   pthread_mutex_lock(&vc_mu);
//   XIOErrorHandler old = XSetIOErrorHandler(vc_io_error);
//   if (old != vc_io_error) vc_prev = old;
//   pthread_mutex_unlock(&vc_mu);
//   Display *d = XOpenDisplay(NULL);
//   if (!d) return NULL;
//   XSetIOErrorExitHandler(d, vc_io_exit, g);
//   vc_mark(NULL, d);
//   return d;
// }
//
// static void vc_disconnect(Display *d, int dead) {
//   vc_mark(d, NULL);
//   // After an I/O error libX11 may keep the display locked by the
//   // thread that met it, and XCloseDisplay would wait for that lock for
//   // ever: a dead display's socket is closed and its (small) Display
//   // struct left behind.
//   if (dead) close(ConnectionNumber(d));
//   else XCloseDisplay(d);
// }
//
// static int vc_count(void) {
//   vc_grab g; memset(&g, 0, sizeof g);
//   Display *d = vc_connect(&g);
//   if (!d) return -1;
//   int n = ScreenCount(d);
//   vc_disconnect(d, g.dead);
//   return n;
// }
//
// static void vc_free(vc_grab *g) {
//   if (g->img) {
//     if (g->useShm) {
//       if (!g->dead) XShmDetach(g->dpy, &g->shm);
//       XDestroyImage(g->img);
//       shmdt(g->shm.shmaddr);
//     } else {
//       XDestroyImage(g->img);
//     }
//     g->img = NULL;
//   }
//   if (g->dpy) { vc_disconnect(g->dpy, g->dead); g->dpy = NULL; }
//   free(g);
// }
//
// // vc_open returns 0, or -1: no display, -2: no such screen, -3: no
// // shared memory segment.
// static int vc_open(vc_grab *g, int screen) {
//   g->dpy = vc_connect(g);
//   if (!g->dpy) return -1;
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
//   if (g->dead) return -1;
//   XImage *img = g->img;
//   if (g->useShm) {
//     if (!XShmGetImage(g->dpy, RootWindow(g->dpy, g->screen), img, 0, 0, AllPlanes) || g->dead) return -1;
//   } else {
//     img = XGetImage(g->dpy, RootWindow(g->dpy, g->screen), 0, 0, g->w, g->h, AllPlanes, ZPixmap);
//     if (!img || g->dead) { if (img) XDestroyImage(img); return -1; }
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
)

// ErrGone is what Read returns once the X server has gone away.
var ErrGone = errors.New("X server connection lost")

// Screens counts the screens of $DISPLAY; 0 when it is not set or cannot
// be opened.
func Screens() int {
	if os.Getenv("DISPLAY") == "" {
		return 0
	}
	return max(0, int(C.vc_count()))
}

// Screen is screen N of $DISPLAY as a mediadevices video driver.
type Screen struct {
	num  int
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
	g := (*C.vc_grab)(C.calloc(1, C.sizeof_vc_grab))
	switch C.vc_open(g, C.int(s.num)) {
	case 0:
		s.g = g
		return nil
	case -1:
		C.vc_free(g)
		return fmt.Errorf("xscreen: cannot open display %q", os.Getenv("DISPLAY"))
	case -2:
		C.vc_free(g)
		return fmt.Errorf("xscreen: display %q has no screen %d", os.Getenv("DISPLAY"), s.num)
	default:
		C.vc_free(g)
		return errors.New("xscreen: no shared memory for the screen image")
	}
}

// Close disconnects; it is safe on a display whose server has died.
func (s *Screen) Close() error {
	if s.tick != nil {
		s.tick.Stop()
		s.tick = nil
	}
	if s.g != nil {
		C.vc_free(s.g)
		s.g = nil
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
