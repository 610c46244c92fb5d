package signal

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
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
	raw  syscall.RawConn // for waitReadable; nil if the conn has none
	pool *sync.Pool      // of *[]byte, shared by the Server's connections
	rs   readState       // the read side, used by the reader only (readahead.go)

	// mu serialises Write, flush and the batch state. It is held across
	// the socket write, so frames never interleave.
	mu       sync.Mutex
	batching bool
	buf      *[]byte   // pooled; nil outside a batch
	deadline time.Time // write deadline recorded during a batch

	// aborted is set by abort: queued data is no longer worth sending.
	aborted atomic.Bool
}

// maxBatch is the most a batch buffers before writing out early, so that
// a burst of large frames to a slow client does not pile up in memory.
const maxBatch = 64 << 10

// errAborted reports a batch dropped because the connection is closing.
var errAborted = errors.New("signal: write aborted, connection closing")

// begin starts collecting writes.
func (b *batchConn) begin() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.batching = true
}

// Write implements net.Conn.
func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
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
	defer func() {
		if cap(*buf) <= maxBatch*2 {
			*buf = (*buf)[:0]
			b.pool.Put(buf)
		}
	}()
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
// connection it hijacks is a batchConn.
type batchHijacker struct {
	http.ResponseWriter
	pool *sync.Pool
	bc   *batchConn
}

// Hijack implements http.Hijacker.
func (h *batchHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, rw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.bc = &batchConn{Conn: nc, pool: h.pool}
	if sc, ok := nc.(syscall.Conn); ok {
		h.bc.raw, _ = sc.SyscallConn()
	}
	return h.bc, rw, nil
}
