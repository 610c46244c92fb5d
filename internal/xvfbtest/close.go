package xvfbtest

// CloseWindows asks every top-level window to close, as a window manager
// does when the user clicks the close button: an ICCCM WM_DELETE_WINDOW
// client message (there is no window manager on Xvfb). It speaks the X11
// protocol itself on the display's Unix socket, so no xdotool is needed.

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// CloseWindows sends WM_DELETE_WINDOW to each child of the root window and
// returns how many it asked.
func (d *Display) CloseWindows() (int, error) {
	num := strings.TrimPrefix(d.Name, ":")
	c, err := net.DialTimeout("unix", "/tmp/.X11-unix/X"+num, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	le := binary.LittleEndian
	// Connection setup, no authorisation.
	if _, err := c.Write([]byte{'l', 0, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0}); err != nil {
		return 0, err
	}
	head := make([]byte, 8)
	if _, err := io.ReadFull(c, head); err != nil {
		return 0, err
	}
	body := make([]byte, int(le.Uint16(head[6:]))*4)
	if _, err := io.ReadFull(c, body); err != nil {
		return 0, err
	}
	if head[0] != 1 {
		return 0, fmt.Errorf("xvfbtest: X connection refused")
	}
	vendorLen := int(le.Uint16(body[16:]))
	nFormats := int(body[21])
	screens := 32 + (vendorLen+3)&^3 + 8*nFormats
	root := le.Uint32(body[screens:])

	reply := func() ([]byte, error) { // the next reply, skipping events
		for {
			h := make([]byte, 32)
			if _, err := io.ReadFull(c, h); err != nil {
				return nil, err
			}
			switch h[0] {
			case 0:
				return nil, fmt.Errorf("xvfbtest: X error %d", h[1])
			case 1:
				extra := make([]byte, int(le.Uint32(h[4:]))*4)
				if _, err := io.ReadFull(c, extra); err != nil {
					return nil, err
				}
				return append(h, extra...), nil
			}
		}
	}
	atom := func(name string) (uint32, error) {
		req := make([]byte, 8+(len(name)+3)&^3)
		req[0] = 16 // InternAtom, only-if-exists = false
		le.PutUint16(req[2:], uint16(len(req)/4))
		le.PutUint16(req[4:], uint16(len(name)))
		copy(req[8:], name)
		if _, err := c.Write(req); err != nil {
			return 0, err
		}
		r, err := reply()
		if err != nil {
			return 0, err
		}
		return le.Uint32(r[8:]), nil
	}
	protocols, err := atom("WM_PROTOCOLS")
	if err != nil {
		return 0, err
	}
	del, err := atom("WM_DELETE_WINDOW")
	if err != nil {
		return 0, err
	}
	req := make([]byte, 8)
	req[0] = 15 // QueryTree
	le.PutUint16(req[2:], 2)
	le.PutUint32(req[4:], root)
	if _, err := c.Write(req); err != nil {
		return 0, err
	}
	r, err := reply()
	if err != nil {
		return 0, err
	}
	n := int(le.Uint16(r[16:]))
	for i := 0; i < n; i++ {
		w := le.Uint32(r[32+4*i:])
		ev := make([]byte, 44)
		ev[0] = 25 // SendEvent, propagate = false
		le.PutUint16(ev[2:], 11)
		le.PutUint32(ev[4:], w) // destination
		// event mask 0: to the clients that selected nothing, i.e. the owner
		e := ev[12:]
		e[0] = 33 // ClientMessage
		e[1] = 32 // format
		le.PutUint32(e[4:], w)
		le.PutUint32(e[8:], protocols)
		le.PutUint32(e[12:], del)
		le.PutUint32(e[16:], 0) // CurrentTime
		if _, err := c.Write(ev); err != nil {
			return i, err
		}
	}
	// A round trip, so the server has handled the events before we return.
	if _, err := atom("WM_PROTOCOLS"); err != nil {
		return n, err
	}
	return n, nil
}
