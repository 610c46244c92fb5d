package xvfbtest

// Grabber reads small areas of the screen fast and often, each with the
// wall-clock time it was read, for timing measurements (when a frame
// first appears: e2e/avsync_test.go). It speaks the X11 protocol on the
// display's Unix socket (GetImage on the root window, ZPixmap), like
// CloseWindows, so a grab costs one round trip and no process: well under
// a millisecond for a strip of the screen, where import takes ~100 ms.
//
// It supports what Xvfb -screen WxHx24 gives: depth 24 stored as 32 bits
// per pixel, least significant byte first (blue, green, red, unused).

import (
	"encoding/binary"
	"fmt"
	"image"
	"io"
	"net"
	"strings"
	"time"
)

// Grabber is one X connection for GetImage requests. Not safe for
// concurrent use.
type Grabber struct {
	c    net.Conn
	root uint32
	buf  []byte
}

// Grabber connects to the display. Close it when done (it is also closed
// when the test ends).
func (d *Display) Grabber() (*Grabber, error) {
	num := strings.TrimPrefix(d.Name, ":")
	c, err := net.DialTimeout("unix", "/tmp/.X11-unix/X"+num, 5*time.Second)
	if err != nil {
		return nil, err
	}
	g := &Grabber{c: c}
	if err := g.setup(); err != nil {
		c.Close()
		return nil, err
	}
	d.tb.Cleanup(func() { g.Close() })
	return g, nil
}

// setup does the connection setup (no authorisation) and checks the
// screen's format.
func (g *Grabber) setup() error {
	le := binary.LittleEndian
	_ = g.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := g.c.Write([]byte{'l', 0, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0}); err != nil {
		return err
	}
	head := make([]byte, 8)
	if _, err := io.ReadFull(g.c, head); err != nil {
		return err
	}
	body := make([]byte, int(le.Uint16(head[6:]))*4)
	if _, err := io.ReadFull(g.c, body); err != nil {
		return err
	}
	if head[0] != 1 {
		return fmt.Errorf("xvfbtest: X connection refused")
	}
	if body[22] != 0 { // image byte order
		return fmt.Errorf("xvfbtest: the screen's images are not LSB first")
	}
	vendorLen := int(le.Uint16(body[16:]))
	nFormats := int(body[21])
	formats := body[32+(vendorLen+3)&^3:]
	screen := formats[8*nFormats:]
	g.root = le.Uint32(screen)
	depth := screen[38]
	bpp := 0
	for i := range nFormats {
		if formats[8*i] == depth {
			bpp = int(formats[8*i+1])
		}
	}
	if depth != 24 || bpp != 32 {
		return fmt.Errorf("xvfbtest: grabbing needs depth 24 at 32 bits per pixel, the screen has depth %d at %d", depth, bpp)
	}
	return nil
}

// Grab reads r of the screen. at is the midpoint of the request's round
// trip: the X server copied the pixels within half the round trip of it.
func (g *Grabber) Grab(r image.Rectangle) (img *image.RGBA, at time.Time, err error) {
	le := binary.LittleEndian
	req := make([]byte, 20)
	req[0] = 73 // GetImage
	req[1] = 2  // ZPixmap
	le.PutUint16(req[2:], 5)
	le.PutUint32(req[4:], g.root)
	le.PutUint16(req[8:], uint16(r.Min.X))
	le.PutUint16(req[10:], uint16(r.Min.Y))
	le.PutUint16(req[12:], uint16(r.Dx()))
	le.PutUint16(req[14:], uint16(r.Dy()))
	le.PutUint32(req[16:], 0xffffffff)
	_ = g.c.SetDeadline(time.Now().Add(10 * time.Second))
	sent := time.Now()
	if _, err := g.c.Write(req); err != nil {
		return nil, time.Time{}, err
	}
	h := make([]byte, 32)
	for {
		if _, err := io.ReadFull(g.c, h); err != nil {
			return nil, time.Time{}, err
		}
		if h[0] == 0 {
			return nil, time.Time{}, fmt.Errorf("xvfbtest: GetImage %v: X error %d", r, h[1])
		}
		if h[0] == 1 {
			break
		}
		// an event: skip it
	}
	got := time.Now()
	n := int(le.Uint32(h[4:])) * 4
	if cap(g.buf) < n {
		g.buf = make([]byte, n)
	}
	data := g.buf[:n]
	if _, err := io.ReadFull(g.c, data); err != nil {
		return nil, time.Time{}, err
	}
	if n < r.Dx()*r.Dy()*4 {
		return nil, time.Time{}, fmt.Errorf("xvfbtest: GetImage %v: %d bytes", r, n)
	}
	img = image.NewRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	for i := 0; i < r.Dx()*r.Dy(); i++ {
		img.Pix[4*i+0] = data[4*i+2]
		img.Pix[4*i+1] = data[4*i+1]
		img.Pix[4*i+2] = data[4*i+0]
		img.Pix[4*i+3] = 255
	}
	return img, sent.Add(got.Sub(sent) / 2), nil
}

// Close ends the connection.
func (g *Grabber) Close() error { return g.c.Close() }
