package wsconn

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/gorilla/websocket"
)

// The read side of batchConn keeps an idle connection's reader goroutine
// small. Gorilla parks the reader deep in its own call chain while it
// waits for the next frame, which keeps the goroutine's stack at 4 KiB;
// the reader instead waits in Conn.Wait, a few frames
// deep, so the runtime shrinks the stack of an idle reader to the
// minimum. For that to be safe the reader must know that gorilla's buffer
// holds no complete frame when it waits, so batchConn reads ahead into a
// pooled buffer of its own and hands gorilla the bytes of one frame at a
// time: when gorilla starts on a frame, everything buffered is in
// batchConn, and buffered reports it (TestGorillaReadsOneFrameAtATime).
//
// Since it follows the frame headers anyway, the read side also checks
// them against RFC 6455 before gorilla sees them (checkHeader): a header
// that breaks the protocol is not handed out, and Read returns a
// protocolError instead, on which the connection fails with close 1002.
// So every violation a header can show is answered alike, including two
// that gorilla lets through or answers without a close frame: a close
// frame with a 1-byte payload, and a 64-bit length with its top bit set.

// readState follows the client's frames through the byte stream.
type readState struct {
	rbuf *[]byte // bytes read ahead, pooled; nil when none are left
	roff int     // how much of *rbuf has been handed out
	rerr error   // error met by Wait, for the next Read
	// readFn is Wait's read(2), made once so that a wait
	// allocates no closure.
	readFn func(fd uintptr) bool

	hdr  [14]byte // the current frame's header, while it is handed out
	hlen int      // header bytes handed out so far
	left uint64   // payload bytes of the current frame still to hand out
	// inMessage: a data frame without FIN has begun a fragmented message,
	// so the next data frame must be its continuation.
	inMessage bool
}

// protocolError is a frame header that breaks RFC 6455; its text is the
// reason sent with close 1002.
type protocolError string

func (e protocolError) Error() string { return "websocket protocol violation: " + string(e) }

// buffered reports whether bytes are waiting to be read.
func (b *batchConn) buffered() bool {
	return b.rs.rbuf != nil || b.rs.rerr != nil
}

// Wait returns when the client has sent something (read ahead into the
// buffer), the connection has failed or the read deadline has passed;
// Next then returns the frame or the error. It parks the caller with a
// shallow stack. On the plain path it returns at once (Next waits, inside
// gorilla).
func (c *Conn) Wait() {
	b := &c.b
	if !c.tricks() || b.buffered() || b.raw == nil {
		return
	}
	if b.rs.readFn == nil {
		b.rs.readFn = b.readAhead
	}
	if err := b.raw.Read(b.rs.readFn); err != nil {
		b.rs.rerr = err // deadline or closed
	}
}

// readAhead reads what the socket holds into a pooled buffer. It reports
// false when there is nothing yet (the caller parks).
func (b *batchConn) readAhead(fd uintptr) bool {
	buf := b.pool.Get().(*[]byte)
	n, err := syscall.Read(int(fd), (*buf)[:cap(*buf)])
	switch {
	case n > 0:
		*buf = (*buf)[:n]
		b.rs.rbuf, b.rs.roff = buf, 0
		return true
	case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EINTR):
		b.pool.Put(buf)
		return false // park until the socket is readable
	case err == nil:
		err = io.EOF
	}
	b.pool.Put(buf)
	b.rs.rerr = err
	return true
}

// Read implements net.Conn. Only the connection's reader calls it. It
// never hands out bytes past the end of the current frame.
func (b *batchConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if b.rs.rbuf == nil {
		if err := b.rs.rerr; err != nil {
			b.rs.rerr = nil
			return 0, err
		}
		buf := b.pool.Get().(*[]byte)
		n, err := b.Conn.Read((*buf)[:cap(*buf)])
		if n == 0 {
			b.pool.Put(buf)
			return 0, err
		}
		*buf = (*buf)[:n]
		b.rs.rbuf, b.rs.roff, b.rs.rerr = buf, 0, err
	}
	data := (*b.rs.rbuf)[b.rs.roff:]
	n := copy(p, data[:b.rs.limit(len(data))])
	if err := b.rs.advance(p[:n]); err != nil {
		return 0, err // gorilla gets the error, not the header
	}
	b.consumed(n)
	return n, nil
}

// Unframed drops the bytes read ahead and returns the socket itself, for
// a reader that only discards what the client still sends after reading
// ended (after a protocol violation the frame checks would refuse it).
func (c *Conn) Unframed() net.Conn {
	if !c.tricks() {
		return c.ws.NetConn()
	}
	if buf := c.b.rs.rbuf; buf != nil {
		c.b.putBuf(buf)
		c.b.rs.rbuf = nil
	}
	c.b.rs.rerr = nil
	return c.b.Conn
}

// consumed marks n more bytes read ahead as used and returns the buffer to
// the pool once all of it is.
func (b *batchConn) consumed(n int) {
	if b.rs.roff += n; b.rs.roff == len(*b.rs.rbuf) {
		buf := b.rs.rbuf
		b.putBuf(buf)
		b.rs.rbuf = nil
	}
}

// skipPong consumes a pong frame that lies complete at the start of the
// bytes read ahead, between two frames, and reports whether it did. The
// reader calls it before it hands the next frame to gorilla: gorilla
// answers a control frame inside NextReader and then goes on to wait for
// the next frame deep in its own call chain, which would keep an idle
// reader's stack large after every ping. Anything unusual (a fragment of
// a pong, reserved bits, an unmasked or oversized control frame) is left
// to gorilla, which handles or rejects it as before.
func (b *batchConn) skipPong() bool {
	r := &b.rs
	if r.rbuf == nil || r.hlen != 0 || r.left != 0 {
		return false
	}
	data := (*r.rbuf)[r.roff:]
	const finPong, masked = 0x80 | websocket.PongMessage, 0x80
	if len(data) < 2 || data[0] != finPong || data[1]&masked == 0 {
		return false
	}
	n := int(data[1] &^ masked)
	if n > 125 || len(data) < 2+4+n {
		return false
	}
	b.consumed(2 + 4 + n)
	return true
}

// limit is how many of avail bytes may be handed out without crossing the
// end of the current frame (or, in a header, the end of what is needed to
// know the header's length).
func (r *readState) limit(avail int) int {
	if r.hlen == 0 && r.left > 0 {
		return int(min(uint64(avail), r.left))
	}
	return min(avail, headerLen(r.hdr[:r.hlen])-r.hlen)
}

// advance accounts for bytes about to be handed out. It checks a frame
// header as its bytes arrive and returns a protocolError, without handing
// the bytes out, when it breaks the protocol.
func (r *readState) advance(p []byte) error {
	if r.hlen == 0 && r.left > 0 {
		r.left -= uint64(len(p))
		return nil
	}
	prev := r.hlen
	r.hlen += copy(r.hdr[r.hlen:], p)
	if r.hlen < 2 {
		return nil
	}
	if prev < 2 {
		if err := r.checkHeader(r.hdr[0], r.hdr[1]); err != nil {
			return err
		}
	}
	if prev < 3 && r.hlen >= 3 && r.hdr[1]&0x7f == 127 && r.hdr[2]&0x80 != 0 {
		// Checked on its first byte: given all eight, gorilla would
		// refuse the length without a close frame.
		return protocolError("64-bit payload length with its most significant bit set")
	}
	if r.hlen < headerLen(r.hdr[:r.hlen]) {
		return nil
	}
	r.left = payloadLen(r.hdr[:r.hlen])
	r.hlen = 0
	return nil
}

// checkHeader checks the first two bytes of a client frame's header (RFC
// 6455 sections 5.2 to 5.5; no extension is negotiated) and follows
// fragmented messages.
func (r *readState) checkHeader(b0, b1 byte) error {
	const fin, rsv, mask = 0x80, 0x70, 0x80
	op, n := b0&0x0f, b1&0x7f
	switch {
	case b0&rsv != 0:
		return protocolError("reserved bits set")
	case b1&mask == 0:
		return protocolError("unmasked client frame")
	case op >= websocket.CloseMessage && op <= websocket.PongMessage: // control
		switch {
		case b0&fin == 0:
			return protocolError("fragmented control frame")
		case n > 125:
			return protocolError("control frame over 125 bytes")
		case op == websocket.CloseMessage && n == 1:
			return protocolError("close frame with a 1-byte payload")
		}
	case op == websocket.TextMessage || op == websocket.BinaryMessage:
		if r.inMessage {
			return protocolError("new message inside a fragmented one")
		}
		r.inMessage = b0&fin == 0
	case op == 0: // continuation
		if !r.inMessage {
			return protocolError("continuation frame outside a fragmented message")
		}
		r.inMessage = b0&fin == 0
	default:
		return protocolError("unknown opcode")
	}
	return nil
}

// headerLen is the length of the frame header that starts with h: 2 until
// the second byte is known, then 2 + extended length + masking key.
func headerLen(h []byte) int {
	if len(h) < 2 {
		return 2
	}
	n := 2
	switch h[1] & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if h[1]&0x80 != 0 {
		n += 4
	}
	return n
}

// payloadLen is the payload length in the complete header h.
func payloadLen(h []byte) uint64 {
	switch n := h[1] & 0x7f; n {
	case 126:
		return uint64(binary.BigEndian.Uint16(h[2:4]))
	case 127:
		return binary.BigEndian.Uint64(h[2:10])
	default:
		return uint64(n)
	}
}
