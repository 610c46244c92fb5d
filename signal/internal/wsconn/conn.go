// Package wsconn is the signalling server's WebSocket transport: the one
// package that knows gorilla/websocket's wire format and the runtime's
// stack. Package signal sees a Conn that reads a frame, delivers a frame
// and closes; it keeps the protocol state.
//
// gorilla/websocket does the HTTP upgrade and parses and writes frames.
// Below it, on the hijacked socket, a batchConn (batch.go) adds three
// tricks, each of which rests on something gorilla does that its API does
// not promise. gorilla_test.go drives the real gorilla code to pin every
// one of them, so that a gorilla upgrade fails a test, not production:
//
//   - Writes are batched: between Begin and Flush every frame gorilla
//     writes is collected and sent with one write(2). A frame to an idle
//     connection is written without gorilla (TryWrite, appendTextFrame),
//     byte for byte as gorilla would write it. batchConn follows the frame
//     headers gorilla writes to see a close frame, so that no direct
//     write follows it. Pinned: TestGorillaTextFrameBytes,
//     TestGorillaWrites, TestGorillaEchoesCloseFromReader,
//     TestLongTextIsNotAClose, TestWriteStateSplitHeaders.
//   - Reads go ahead of gorilla (readahead.go): the reader waits a few
//     frames deep (Wait), not deep inside gorilla, and gorilla is handed
//     the bytes of one frame at a time; frame headers are checked against
//     RFC 6455 before gorilla sees them, and pongs are swallowed below
//     gorilla. Pinned: TestGorillaReadsThroughBatchConn,
//     TestGorillaReadsOneFrameAtATime, TestGorillaPongHandler,
//     TestGorillaReadErrors.
//   - The reader hands over to a fresh goroutine when its stack has grown
//     (HandOff, StackMark in stack.go). Pinned: TestStackMark,
//     TestHandOff; its effect is held by signal's TestIdlePeerCost.
//
// Config.Plain switches all three off: gorilla as is over the hijacked
// socket. TestPlainGorillaAgrees (here, client byte streams) and signal's
// TestPlainGorillaPath (a whole conversation) run both paths and compare.
//
// Invariants: a Conn has one reader (HandOff, Wait, Buffered, Next and the
// read setters are called only by it) and one writer at a time (Begin, Flush,
// WriteText, WritePing, WriteClose, TryWrite); the caller guarantees both.
// Abort and Close may be called from anywhere.
package wsconn

import (
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Message types and close codes (RFC 6455 sections 5.6 and 7.4.1).
const (
	TextMessage = websocket.TextMessage
	// PongMessage is what Next returns for a pong it consumed below gorilla.
	PongMessage = websocket.PongMessage

	CloseNormalClosure           = websocket.CloseNormalClosure
	CloseGoingAway               = websocket.CloseGoingAway
	CloseProtocolError           = websocket.CloseProtocolError
	CloseInvalidFramePayloadData = websocket.CloseInvalidFramePayloadData
	ClosePolicyViolation         = websocket.ClosePolicyViolation
	CloseInternalServerErr       = websocket.CloseInternalServerErr
	CloseTryAgainLater           = websocket.CloseTryAgainLater
)

// Buffer sizes of each connection. Gorilla's read buffer stays with the
// connection, but batchConn reads ahead into pooled buffers, so it needs
// little more than a frame header (gorilla's minimum is 125). Gorilla's
// write buffer is pooled.
const (
	readBufferSize  = 128
	writeBufferSize = 1024
)

// Config configures an Upgrader.
type Config struct {
	// CheckOrigin is gorilla's Upgrader.CheckOrigin.
	CheckOrigin func(*http.Request) bool
	// Plain runs gorilla as is: no write batching, no direct writes, no
	// read-ahead, header checks or pong swallowing below gorilla, and no
	// hand-over of a grown reader. For comparing the tricks with plain
	// gorilla in tests.
	Plain bool
}

// Upgrader upgrades HTTP requests to Conns. It is safe for concurrent use.
type Upgrader struct {
	up    websocket.Upgrader
	pool  *sync.Pool // batch and read-ahead buffers, shared by the Conns
	plain bool
}

// NewUpgrader returns an Upgrader configured by cfg.
func NewUpgrader(cfg Config) *Upgrader {
	return &Upgrader{
		up: websocket.Upgrader{
			CheckOrigin:    cfg.CheckOrigin,
			ReadBufferSize: readBufferSize,
			// Gorilla takes a buffer for each message it writes and puts
			// it back after: an idle connection holds none.
			WriteBufferPool: &sync.Pool{},
			WriteBufferSize: writeBufferSize,
		},
		pool:  newBufferPool(),
		plain: cfg.Plain,
	}
}

// Upgrade performs the WebSocket handshake. On error the upgrader has
// answered with an HTTP error already.
func (u *Upgrader) Upgrade(w http.ResponseWriter, r *http.Request) (*Conn, error) {
	c := &Conn{}
	if !u.plain { // gorilla hijacks c.b, a batchConn; on the plain path b stays zero
		w = &batchHijacker{ResponseWriter: w, pool: u.pool, bc: &c.b}
	}
	ws, err := u.up.Upgrade(w, r, nil)
	if err != nil {
		return nil, err
	}
	c.ws = ws
	c.b.mu.Lock()
	c.b.ws.framed = true // the handshake's response is out
	c.b.mu.Unlock()
	return c, nil
}

// Conn is one client's WebSocket, server side. It is one allocation with
// its batchConn, which an idle connection keeps.
type Conn struct {
	ws *websocket.Conn
	// handOffAt is the earliest time (Unix ns) at which the reader may
	// hand over to a fresh goroutine again; see HandOff.
	handOffAt int64
	// b is ws's net.Conn; zero on the plain path, where only its aborted
	// flag is used.
	b batchConn
}

// tricks reports whether the connection runs over its batchConn (not the
// plain path).
func (c *Conn) tricks() bool { return c.b.Conn != nil }

// Read side: the connection's reader only.

// SetReadLimit sets the largest message the client may send; a larger one
// ends reading with an error that Classify reports as EndTooLarge.
func (c *Conn) SetReadLimit(n int64) { c.ws.SetReadLimit(n) }

// SetReadDeadline sets the deadline of the reads.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.ws.SetReadDeadline(t) }

// SetPongHandler sets what runs for each pong from the client (with its
// payload), whether gorilla or the read-ahead consumes it. Its error is
// ignored.
func (c *Conn) SetPongHandler(h func(appData string) error) { c.ws.SetPongHandler(h) }

// Buffered reports whether bytes of the client's are waiting to be read,
// or may be (the plain path cannot tell).
func (c *Conn) Buffered() bool { return !c.tricks() || c.b.buffered() }

// handOffEvery is the least time between two hand-overs of a reader to a
// fresh goroutine (see HandOff).
const handOffEvery = time.Second

// HandOff reports whether the reader, whose StackMark (a local variable
// set when it started) is mark, should stop and go on on a fresh
// goroutine before it waits, and if so counts the hand-over.
//
// The runtime never shrinks a parked reader's 4 KiB stack back to 2 KiB,
// since what the waiting frames use plus the runtime's reserve is more
// than a quarter of it. So when the stack has grown (mark moved) and the
// client has nothing more buffered (no frame is half read), the reader
// hands over. Relaying a message can take a fresh stack past 2 KiB, so a
// busy reader hands over at most once per handOffEvery (the first time
// always); one that went idle on a grown stack hands over when it next
// wakes, at the latest for the pong that answers its next ping. On the
// plain path it never hands over.
func (c *Conn) HandOff(mark *StackMark) bool {
	if c.Buffered() || !mark.Moved() {
		return false
	}
	now := time.Now().UnixNano()
	if now < c.handOffAt {
		return false
	}
	c.handOffAt = now + int64(handOffEvery)
	return true
}

// Next returns the next data frame: its type (TextMessage or gorilla's
// BinaryMessage) and a reader of its payload, valid until the next call.
// A pong consumed below gorilla is returned as PongMessage with a nil
// reader, after its handler has run: the reader goes back to its Wait.
func (c *Conn) Next() (int, io.Reader, error) {
	if c.tricks() && c.b.skipPong() {
		_ = c.ws.PongHandler()("") // the payload is not kept: ours is empty
		return PongMessage, nil, nil
	}
	return c.ws.NextReader()
}

// Write side: the one writer only.

// Begin starts a batch that must be written by the given deadline: what
// is written until Flush goes out with one write(2).
func (c *Conn) Begin(deadline time.Time) error {
	if c.tricks() {
		c.b.mu.Lock()
		c.b.batching = true
		c.b.mu.Unlock()
	}
	return c.ws.SetWriteDeadline(deadline) // in a batch: the flush's
}

// Flush ends the batch and writes it.
func (c *Conn) Flush() error {
	if !c.tricks() {
		return nil
	}
	return c.b.flush()
}

// WriteText writes p as one text message.
func (c *Conn) WriteText(p []byte) error {
	if !c.tricks() && c.b.aborted.Load() {
		return errAborted // batchConn refuses it in its flush
	}
	return c.ws.WriteMessage(websocket.TextMessage, p)
}

// WritePing writes an empty ping.
func (c *Conn) WritePing(deadline time.Time) error {
	if !c.tricks() && c.b.aborted.Load() {
		return errAborted
	}
	return c.ws.WriteControl(websocket.PingMessage, nil, deadline)
}

// WriteClose writes a close frame with code and reason. It goes out even
// after Abort, with its own deadline.
func (c *Conn) WriteClose(code int, reason string, deadline time.Time) error {
	return c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), deadline)
}

// CanWriteDirect reports whether TryWrite may be used: the connection has
// a raw socket for a non-blocking write.
func (c *Conn) CanWriteDirect() bool { return c.tricks() && c.b.raw != nil }

// TryWrite writes payload as one text frame with a single non-blocking
// write(2) and never waits. It reports whether the whole frame went out;
// when only part of it did, the rest waits for the writer's next Flush
// (which the caller must make, in a batch, before anything else). Only
// when CanWriteDirect.
func (c *Conn) TryWrite(payload []byte) (bool, error) { return c.b.tryWrite(payload) }

// Abort makes a write stuck on a client that does not read fail now, and
// makes later data writes fail (close frames still go
// out). It never blocks.
func (c *Conn) Abort() {
	if c.tricks() {
		c.b.abort()
		return
	}
	c.b.aborted.Store(true)
	_ = c.ws.NetConn().SetWriteDeadline(time.Now())
}

// Close drops the TCP connection.
func (c *Conn) Close() error { return c.ws.Close() }

// End says why reading ended; see Classify.
type End int

const (
	// EndDrop: the connection broke (a network error, a read deadline,
	// the end of the stream without a close frame).
	EndDrop End = iota
	// EndClosed: the client sent a close frame; gorilla has echoed it.
	EndClosed
	// EndTooLarge: a message over the read limit; gorilla has sent 1009.
	EndTooLarge
	// EndViolation: a frame header broke RFC 6455. No close frame has
	// been sent: the caller sends 1002 with the reason Classify returns.
	EndViolation
	// EndBadClose: gorilla found a violation in a close frame's payload
	// (a bad close code, a reason that is not UTF-8) and has sent 1002.
	EndBadClose
)

// Classify says why the error from Next ended reading; for EndViolation
// it also returns the reason to send with close 1002. gorilla reports a
// connection that ended without a close frame as close 1006: a drop, like
// a network error, a deadline (net.Error) or the end of the stream.
func Classify(err error) (End, string) {
	var pe protocolError
	var ce *websocket.CloseError
	var ne net.Error
	switch {
	case errors.Is(err, websocket.ErrReadLimit):
		return EndTooLarge, ""
	case errors.As(err, &ce):
		if ce.Code == websocket.CloseAbnormalClosure {
			return EndDrop, ""
		}
		return EndClosed, ""
	case errors.As(err, &pe):
		return EndViolation, string(pe)
	case errors.As(err, &ne), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return EndDrop, ""
	}
	return EndBadClose, ""
}

// IsCloseSent reports whether a write failed because a close frame went
// out before it: the reader has just echoed the client's close frame.
func IsCloseSent(err error) bool { return errors.Is(err, websocket.ErrCloseSent) }
