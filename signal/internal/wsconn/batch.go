package wsconn

import (
	"bufio"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// batchConn is the net.Conn under a connection's gorilla websocket.Conn.
// Between begin and flush it collects everything gorilla writes (data
// frames from the writer, and pongs or a close echo that gorilla writes
// from the reader) in one pooled buffer and sends it with a single
// write(2); outside a batch every Write goes straight to the socket. So a
// writer that drains several queued frames pays one syscall for them all,
// and an idle connection holds no write buffer.
type batchConn struct {
	net.Conn
	raw  syscall.RawConn // for Wait and tryWrite; nil if the conn has none
	pool *sync.Pool      // of *[]byte, shared by the Server's connections
	rs   readState       // the read side, used by the reader only (readahead.go)

	// mu serialises Write, flush and the batch state. It is held across
	// the socket write, so frames never interleave.
	mu       sync.Mutex
	batching bool
	// aborted is set by abort: queued data is no longer worth sending.
	aborted  atomic.Bool
	buf      *[]byte   // pooled; nil outside a batch
	deadline time.Time // write deadline recorded during a batch

	// writeFn makes the write(2) of writeNow with wp, leaving its results
	// in wn and werr. It is made once, on the first direct write, so that
	// a write allocates no closure. Guarded by mu.
	writeFn func(fd uintptr) bool
	wp      []byte
	wn      int
	werr    error

	// ws follows the frames gorilla writes, under mu; ws.closeSent is set
	// when gorilla writes a close frame (its echo of the client's close,
	// or ours): no data frame may follow it.
	ws writeState
}

// maxBatch is the most a batch buffers before writing out early, so that
// a burst of large frames to a slow client does not pile up in memory.
const maxBatch = 64 << 10

// errAborted reports a batch dropped because the connection is closing.
var errAborted = errors.New("wsconn: write aborted, connection closing")

// Write implements net.Conn.
func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ws.follow(p)
	if !b.batching {
		return b.Conn.Write(p)
	}
	if b.buf == nil {
		b.buf = b.pool.Get().(*[]byte)
	}
	*b.buf = append(*b.buf, p...)
	if len(*b.buf) >= maxBatch {
		if err := b.writeOutLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// SetWriteDeadline implements net.Conn. Inside a batch it only records the
// deadline, which the flush applies once.
func (b *batchConn) SetWriteDeadline(t time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.batching {
		b.deadline = t
		return nil
	}
	return b.Conn.SetWriteDeadline(t)
}

// flush ends the batch and writes what it collected.
func (b *batchConn) flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.batching = false
	return b.writeOutLocked()
}

// writeOutLocked writes the batch buffer to the socket and returns it to
// the pool. b.mu is held.
func (b *batchConn) writeOutLocked() error {
	if b.buf == nil {
		return nil
	}
	buf := b.buf
	defer b.putBuf(buf)
	b.buf = nil
	if b.aborted.Load() {
		return errAborted
	}
	err := b.Conn.SetWriteDeadline(b.deadline)
	if b.aborted.Load() {
		// abort ran after the check above and may have set its deadline
		// before ours: set it again so that the write fails at once.
		err = b.Conn.SetWriteDeadline(time.Now())
	}
	if err != nil {
		return err
	}
	_, err = b.Conn.Write(*buf)
	return err
}

// abort makes a write stuck on a client that does not read fail now, and
// drops batches not yet written. Close frames written outside a batch
// still go out, with their own deadline. It does not take b.mu, which a
// stuck write holds.
func (b *batchConn) abort() {
	b.aborted.Store(true)
	_ = b.Conn.SetWriteDeadline(time.Now())
}

// newBufferPool returns a pool of batch buffers.
func newBufferPool() *sync.Pool {
	return &sync.Pool{New: func() any {
		b := make([]byte, 0, 4<<10)
		return &b
	}}
}

// batchHijacker wraps the ResponseWriter handed to the Upgrader so that the
// connection it hijacks is bc, a batchConn.
type batchHijacker struct {
	http.ResponseWriter
	pool *sync.Pool
	bc   *batchConn // zero; Hijack sets it up
}

// Hijack implements http.Hijacker.
func (h *batchHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, rw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.bc.Conn, h.bc.pool = nc, h.pool
	if sc, ok := nc.(syscall.Conn); ok {
		h.bc.raw, _ = sc.SyscallConn()
	}
	return h.bc, rw, nil
}

// tryWrite sends payload as one unmasked text frame with a single
// non-blocking write(2) and never waits. It reports whether the whole
// frame went out. When only part of it did (the client's socket buffer is
// full), the rest stays in the batch buffer with batching on: whatever is
// written next is appended after it, and the writer's next flush sends it.
// The caller must hold the connection's writer role, and the conn must
// have a raw socket (b.raw != nil).
func (b *batchConn) tryWrite(payload []byte) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.aborted.Load() {
		return false, errAborted
	}
	if b.ws.closeSent {
		return false, websocket.ErrCloseSent
	}
	buf := b.pool.Get().(*[]byte)
	*buf = appendTextFrame((*buf)[:0], payload)
	n, err := b.writeNow(*buf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// The deadline of the writer's last batch has passed; a write
		// that cannot block needs none.
		if err = b.Conn.SetWriteDeadline(time.Time{}); err == nil {
			n, err = b.writeNow(*buf)
		}
	}
	switch {
	case err != nil && !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.EINTR):
		b.putBuf(buf)
		return false, err
	case n == len(*buf):
		b.putBuf(buf)
		return true, nil
	}
	rest := copy(*buf, (*buf)[n:])
	*buf = (*buf)[:rest]
	b.buf, b.batching = buf, true
	return false, nil
}

// writeNow makes one non-blocking write(2) of p. An error from before the
// write (the connection is closed, or its write deadline has passed) is
// returned as it is, with n 0.
func (b *batchConn) writeNow(p []byte) (int, error) {
	if b.writeFn == nil {
		b.writeFn = func(fd uintptr) bool {
			b.wn, b.werr = syscall.Write(int(fd), b.wp)
			return true // never park: the writer finishes what is left
		}
	}
	b.wp, b.wn, b.werr = p, 0, nil
	err := b.raw.Write(b.writeFn)
	if err == nil {
		err = b.werr
	}
	n := max(b.wn, 0)
	b.wp, b.werr = nil, nil
	return n, err
}

// putBuf returns a batch buffer to the pool unless it grew too large.
func (b *batchConn) putBuf(buf *[]byte) {
	if cap(*buf) <= maxBatch*2 {
		*buf = (*buf)[:0]
		b.pool.Put(buf)
	}
}

// appendTextFrame appends a final, unmasked WebSocket text frame (RFC 6455
// section 5.2, as a server sends it) carrying payload.
func appendTextFrame(dst, payload []byte) []byte {
	const finText = 0x81
	n := len(payload)
	switch {
	case n < 126:
		dst = append(dst, finText, byte(n))
	case n <= 0xffff:
		dst = append(dst, finText, 126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, finText, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return append(dst, payload...)
}

// writeState follows the frames gorilla writes through batchConn.Write
// and sees a close frame among them. It parses every header, because a
// Write need not start one: gorilla writes a message longer than its
// write buffer with two Writes, the second starting in the middle of the
// payload, possibly on the byte 0x88 (a UTF-8 continuation byte) that
// also starts a close frame (TestLongTextIsNotAClose). Frames written by
// tryWrite do not pass through it; they are written whole, between
// gorilla's frames. It keeps no header bytes, so that it stays small.
type writeState struct {
	// left is the payload of the current frame still to come; while a
	// header passes, the payload length read so far.
	left uint64
	hlen uint8 // header bytes seen; 0 outside a header
	need uint8 // the header's length, once its second byte is seen
	ext  uint8 // bytes of extended payload length in the header
	// isClose: the frame whose header passes is a close frame.
	isClose bool
	// framed is set once the handshake's response is out: from then on
	// Writes carry frames.
	framed    bool
	closeSent bool // a close frame has been written
}

// follow follows p through the frames and sets closeSent when a close
// frame's header has passed.
func (w *writeState) follow(p []byte) {
	if !w.framed {
		return
	}
	for len(p) > 0 {
		if w.hlen == 0 && w.left > 0 { // payload
			n := min(uint64(len(p)), w.left)
			w.left -= n
			p = p[n:]
			continue
		}
		b := p[0]
		p = p[1:]
		w.hlen++
		switch {
		case w.hlen == 1:
			w.isClose = b&0x0f == websocket.CloseMessage
			continue
		case w.hlen == 2:
			w.need = uint8(headerLen([]byte{0, b}))
			switch w.left, w.ext = uint64(b&0x7f), 0; w.left {
			case 126:
				w.left, w.ext = 0, 2
			case 127:
				w.left, w.ext = 0, 8
			}
		case w.hlen <= 2+w.ext:
			w.left = w.left<<8 | uint64(b)
		}
		if w.hlen == w.need {
			w.closeSent = w.closeSent || w.isClose
			w.hlen = 0
		}
	}
}
