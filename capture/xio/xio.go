// Package xio keeps the death of an X server (killed, crashed, connection
// lost) from ending the process, for the displays registered with it:
// the screen driver's (capture/xscreen) and the window view's SDL display
// (view/window).
//
// Invariants:
//   - Xlib's default I/O error handling calls exit(). The I/O error
//     handler is one per process (Xlib's), so the registry of "our"
//     displays is one per process too, here, in C: it is Xlib's state,
//     not the program's. The handler this package installs returns for a
//     registered display, so that Xlib goes on to the display's exit
//     handler (XSetIOErrorExitHandler, libX11 ≥ 1.7), which records the
//     death (Conn.Dead) and returns. A display that is not registered gets
//     the handler this one replaced (Xlib's default: its message, exit).
//   - After the death no Xlib call may be made on the display: after an
//     I/O error libX11 may keep the display locked by the thread that met
//     it, and XCloseDisplay (or any other call from another thread) would
//     wait for that lock for ever. So Close of a dead display only closes
//     its socket, and the Display struct and the Conn's (small) C struct
//     are abandoned.
package xio

// #cgo pkg-config: x11
// #include <pthread.h>
// #include <stdlib.h>
// #include <unistd.h>
// #include <X11/Xlib.h>
//
// typedef struct {
//   Display *dpy;
//   volatile int dead; // set by the exit handler: the connection is gone
// } xio_conn;
//
// static void xio_exit(Display *d, void *p) { (void)d; ((xio_conn*)p)->dead = 1; }
//
// static pthread_mutex_t xio_mu = PTHREAD_MUTEX_INITIALIZER;
// static XIOErrorHandler xio_prev;
// #define XIO_MAX 64
// static Display *xio_ours[XIO_MAX];
//
// // xio_mark replaces one entry d of the registry by with (NULL: a free
// // slot); it returns 0, or -1 when there is no such entry.
// static int xio_mark(Display *d, Display *with) {
//   int ret = -1;
//   pthread_mutex_lock(&xio_mu);
//   for (int i = 0; i < XIO_MAX; i++) if (xio_ours[i] == d) { xio_ours[i] = with; ret = 0; break; }
//   pthread_mutex_unlock(&xio_mu);
//   return ret;
// }
//
// // xio_io_error: our displays go on to their exit handler, which returns;
// // any other display gets the handler we replaced, as before.
// static int xio_io_error(Display *d) {
//   int ours = 0;
//   XIOErrorHandler prev;
//   pthread_mutex_lock(&xio_mu);
//   for (int i = 0; i < XIO_MAX; i++) if (xio_ours[i] == d) ours = 1;
//   prev = xio_prev;
//   pthread_mutex_unlock(&xio_mu);
//   if (!ours && prev) return prev(d);
//   return 0;
// }
//
// // xio_watch registers c->dpy: 0, or -1 when the registry is full.
// static int xio_watch(xio_conn *c) {
//   pthread_mutex_lock(&xio_mu);
//   XIOErrorHandler old = XSetIOErrorHandler(xio_io_error);
//   if (old != xio_io_error) xio_prev = old;
//   pthread_mutex_unlock(&xio_mu);
//   if (xio_mark(NULL, c->dpy) < 0) return -1;
//   XSetIOErrorExitHandler(c->dpy, xio_exit, c);
//   return 0;
// }
//
// // xio_forget unregisters a live display and gives it back Xlib's
// // default exit handler; c may be freed after it.
// static void xio_forget(xio_conn *c) {
//   XSetIOErrorExitHandler(c->dpy, NULL, NULL);
//   xio_mark(c->dpy, NULL);
// }
//
// static void xio_close(xio_conn *c) {
//   if (c->dead) { xio_mark(c->dpy, NULL); close(ConnectionNumber(c->dpy)); return; }
//   xio_forget(c);
//   XCloseDisplay(c->dpy);
// }
//
// static Display *xio_open(void) { return XOpenDisplay(NULL); }
import "C"

import (
	"errors"
	"fmt"
	"os"
	"unsafe"
)

// ErrFull: more displays are registered at once than the registry holds.
var ErrFull = errors.New("xio: too many X displays open")

// Conn is one registered display.
type Conn struct {
	c      *C.xio_conn
	opened bool // by Open: Close disconnects
}

// Open connects to $DISPLAY and registers the connection.
func Open() (*Conn, error) {
	d := C.xio_open()
	if d == nil {
		return nil, fmt.Errorf("xio: cannot open display %q", os.Getenv("DISPLAY"))
	}
	c, err := watch(d)
	if err != nil {
		C.XCloseDisplay(d)
		return nil, err
	}
	c.opened = true
	return c, nil
}

// Watch registers a display that other code opened (SDL's); dpy is its
// Display*. Forget unregisters it before that code closes it.
func Watch(dpy unsafe.Pointer) (*Conn, error) {
	if dpy == nil {
		return nil, errors.New("xio: no display")
	}
	return watch((*C.Display)(dpy))
}

func watch(d *C.Display) (*Conn, error) {
	c := (*C.xio_conn)(C.calloc(1, C.sizeof_xio_conn))
	c.dpy = d
	if C.xio_watch(c) != 0 {
		C.free(unsafe.Pointer(c))
		return nil, ErrFull
	}
	return &Conn{c: c}, nil
}

// Display is the connection's Display*.
func (c *Conn) Display() unsafe.Pointer { return unsafe.Pointer(c.c.dpy) }

// DeadFlag points to the C int (volatile) that becomes 1 when the
// connection is lost, for C code that checks it after each Xlib call.
func (c *Conn) DeadFlag() unsafe.Pointer { return unsafe.Pointer(&c.c.dead) }

// Dead reports whether the connection is lost (an I/O error met it).
// From then on no Xlib call may be made on the display.
func (c *Conn) Dead() bool { return *(*C.int)(unsafe.Pointer(&c.c.dead)) != 0 }

// Close ends a connection made by Open: XCloseDisplay while it lives;
// once dead, only its socket is closed (see the package invariants). It
// is Forget for a display registered by Watch.
func (c *Conn) Close() {
	if c.c == nil {
		return
	}
	if !c.opened {
		c.Forget()
		return
	}
	dead := c.Dead()
	C.xio_close(c.c)
	if !dead {
		C.free(unsafe.Pointer(c.c))
	}
	c.c = nil
}

// Forget unregisters a display registered by Watch. A live display gets
// Xlib's default exit handler back; a dead one is left as it is (its C
// struct is abandoned: Xlib may still call its exit handler).
func (c *Conn) Forget() {
	if c.c == nil {
		return
	}
	if c.Dead() {
		C.xio_mark(c.c.dpy, nil)
	} else {
		C.xio_forget(c.c)
		C.free(unsafe.Pointer(c.c))
	}
	c.c = nil
}
