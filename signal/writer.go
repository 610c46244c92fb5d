package signal

import (
	"bytes"
	"time"

	"github.com/videochat/videochat/signal/internal/wsconn"
	"github.com/videochat/videochat/signal/proto"
)

// The write side of a connection.
//
// Frames for the client wait in two queues guarded by conn.mu: queue (room
// frames, bounded by SendQueue: a client that lets it overflow is evicted)
// and replies (answers to the client's own messages, bounded by
// replyQueue: the reader waits for room, see reply). Both are plain slices
// that are nil while the connection is idle.
//
// Exactly one goroutine writes to the client at any time, and none runs
// while there is nothing to write. conn.writing says whether the writer
// runs; it is read and changed only under conn.mu:
//
//   - kickLocked, called after anything is queued (a frame, a reply, a
//     ping, the close), starts writeLoop if writing is false and sets it.
//   - writeLoop takes everything queued under the lock and writes it as
//     one batch (one write(2), see wsconn.Conn.Begin), then looks again. When it
//     finds nothing it clears writing, under the same lock, and returns.
//
//   - Deliver may instead write a frame itself when the connection is idle
//     (writeDirect): it takes the same role by setting writing, makes one
//     non-blocking write(2), and starts writeLoop afterwards only if
//     something is left to do. A frame to an idle client thus costs no
//     goroutine and no hand-over between goroutines.
//
// So the writer never exits while work is queued (the check and the exit
// are one critical section) and a second writer cannot start while one
// runs. Once the connection is marked killed the running (or next) writer
// runs finish, which writes the close and never clears writing: no writer
// starts after it. An idle connection therefore costs one goroutine, the
// reader.

// outFrame is a queued room frame and when it was handed to the
// connection (for the relay latency metric; zero for the server's own
// last words, which it does not observe).
type outFrame struct {
	data []byte
	at   time.Duration
}

// Deliver implements Sink. It queues frame without blocking; when the queue
// is full it evicts the connection as a slow consumer and returns false.
// A connection that is already closing refuses every frame (false).
func (c *conn) Deliver(frame []byte) bool {
	at := c.srv.now()
	c.mu.Lock()
	// Write the frame here when nothing else is queued or being written,
	// the connection is neither closing nor holding frames back for a
	// join, and it has a raw socket for a non-blocking write.
	if !c.writing && !c.closing && !c.holding && !c.pingDue &&
		len(c.queue) == 0 && len(c.replies) == 0 && c.ws.CanWriteDirect() {
		c.writing, c.inFlight = true, 1
		c.mu.Unlock()
		c.writeDirect(frame, at)
		return true
	}
	defer c.mu.Unlock()
	if c.closing {
		return false
	}
	max := c.srv.cfg.SendQueue
	if c.holding {
		// Leave one slot for the welcome that goes out first.
		if len(c.held) < max-1 {
			c.held = append(c.held, bytes.Clone(frame))
			return true
		}
	} else if len(c.queue)+c.inFlight < max {
		c.queue = append(c.queue, outFrame{data: bytes.Clone(frame), at: at})
		c.kickLocked()
		return true
	}
	c.evictLocked()
	return false
}

// writeDirect writes frame to the client from the delivering goroutine,
// which holds the writer role (see the top of the file). It never waits on
// the client: what a full socket buffer leaves over, an error, and frames
// queued meanwhile are left to writeLoop, which it starts only then.
func (c *conn) writeDirect(frame []byte, at time.Duration) {
	done, err := c.ws.TryWrite(frame)
	if done {
		c.srv.metrics.wroteFrame(frame, at, c.srv.now())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inFlight = 0
	c.directErr = err
	c.flushDue = !done && err == nil
	if done && !c.killed && !c.pingDue && len(c.queue) == 0 && len(c.replies) == 0 {
		c.writing = false
		return
	}
	go c.writeLoop()
}

// reply queues an answer to the client's own message (an error). Replies
// have their own small queue, and unlike Deliver reply waits for room in it:
// a client that floods the server with bad messages is slowed down by its
// own replies (its frames stay unread), and they never crowd out room
// events. Only readLoop calls it.
func (c *conn) reply(frame []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for !c.closing && len(c.replies) >= replyQueue {
		if c.replyWait == nil {
			c.replyWait = make(chan struct{})
		}
		wait := c.replyWait
		c.mu.Unlock()
		<-wait // closed by the writer when it takes the replies, or by sealLocked
		c.mu.Lock()
	}
	if c.closing {
		return
	}
	c.replies = append(c.replies, frame)
	c.kickLocked()
}

// deliverNow queues frame ahead of any frames held back for a join in
// progress; it is for the last words before a close (an error, a bye).
func (c *conn) deliverNow(frame []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	if len(c.queue)+c.inFlight >= c.srv.cfg.SendQueue {
		c.evictLocked()
		return
	}
	c.queue = append(c.queue, outFrame{data: frame})
	c.kickLocked()
}

// requestPing queues a ping for the writer.
func (c *conn) requestPing() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	c.pingDue = true
	c.kickLocked()
}

// evictLocked drops a client that does not read fast enough. c.mu is held.
func (c *conn) evictLocked() {
	c.loggerLocked().Warn("evicting slow consumer", "queue", c.srv.cfg.SendQueue)
	c.srv.metrics.evictions.WithLabelValues(proto.CodeSlowConsumer).Inc()
	if c.sealLocked(closeReq{code: wsconn.ClosePolicyViolation, reason: proto.CodeSlowConsumer, leave: true}) {
		c.signalCloseLocked()
	}
}

// kickLocked starts the writer unless it runs. c.mu is held.
func (c *conn) kickLocked() {
	if c.writing {
		return
	}
	c.writing = true
	go c.writeLoop()
}

// writeLoop writes batches until nothing is queued, or finishes the
// connection once it is killed. See the comment at the top of the file.
func (c *conn) writeLoop() {
	var b writeBatch
	for {
		c.mu.Lock()
		if c.killed {
			c.mu.Unlock()
			c.finish()
			return
		}
		if err := c.directErr; err != nil {
			c.directErr = nil
			c.mu.Unlock()
			c.writeFailed(err)
			continue
		}
		if !c.takeLocked(&b) {
			c.writing = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		if err := c.write(&b); err != nil {
			c.writeFailed(err)
		}
	}
}

// writeBatch is what the writer took from the queues in one go. Its
// slices are swapped with the connection's, so that a busy writer
// allocates nothing.
type writeBatch struct {
	replies [][]byte
	frames  []outFrame
	ping    bool
	flush   bool // the batch buffer holds the rest of a direct write
}

// takeLocked moves everything queued into b and reports whether there was
// anything. When there was not, the connection's queues are dropped so
// that an idle connection holds no slices. c.mu is held.
func (c *conn) takeLocked(b *writeBatch) bool {
	clear(b.replies)
	clear(b.frames)
	b.replies, c.replies = c.replies, b.replies[:0]
	b.frames, c.queue = c.queue, b.frames[:0]
	b.ping, c.pingDue = c.pingDue, false
	b.flush, c.flushDue = c.flushDue, false
	c.inFlight = len(b.frames)
	if len(b.replies) > 0 {
		c.wakeReplierLocked()
	}
	if len(b.replies) == 0 && len(b.frames) == 0 && !b.ping && !b.flush {
		c.queue, c.replies = nil, nil
		return false
	}
	return true
}

// write sends a batch: replies first, then room frames, then a ping, with
// one flush at the end. It stops at the first error.
func (c *conn) write(b *writeBatch) error {
	deadline := time.Now().Add(c.srv.cfg.WriteWait)
	err := c.ws.Begin(deadline)
	for i := 0; err == nil && i < len(b.replies); i++ {
		err = c.ws.WriteText(b.replies[i])
	}
	for i := 0; err == nil && i < len(b.frames); i++ {
		err = c.ws.WriteText(b.frames[i].data)
	}
	if err == nil && b.ping {
		err = c.ws.WritePing(deadline)
	}
	if ferr := c.ws.Flush(); err == nil {
		err = ferr
	}
	if err == nil {
		c.srv.metrics.written(b, c.srv.now())
	}
	return err
}

// writeFailed closes the connection after a failed write. A close frame
// sent before it means the reader has just answered the client's close
// frame (gorilla echoes it from the reader): the client left on purpose,
// and the reader takes the peer out of its room. Any other error means
// the connection broke.
func (c *conn) writeFailed(err error) {
	c.logger().Debug("write failed", "err", err)
	if wsconn.IsCloseSent(err) {
		c.closeWith(closeReq{})
		return
	}
	c.connLost()
}

// wakeReplierLocked wakes a reader waiting for room in the reply queue.
// c.mu is held.
func (c *conn) wakeReplierLocked() {
	if c.replyWait != nil {
		close(c.replyWait)
		c.replyWait = nil
	}
}

// finish runs the close that c.req describes (for a close for abuse, the
// peer leaves its room first), drops the TCP connection, waits for
// readLoop to return and untracks the connection.
func (c *conn) finish() {
	defer c.srv.untrack(c)
	c.mu.Lock()
	req := c.req
	c.mu.Unlock()
	if req.leave {
		c.leaveRoom() // a close for abuse: the room hears of it now
	}
	cfg := &c.srv.cfg
	var b writeBatch
	c.mu.Lock()
	pending := req.graceful && c.takeLocked(&b)
	c.mu.Unlock()
	if pending {
		_ = c.write(&b) // what is still queued, for a graceful close
	}
	if req.code != 0 {
		wait := cfg.WriteWait
		if !req.graceful {
			wait = min(wait, time.Second)
		}
		_ = c.ws.WriteClose(req.code, req.reason, time.Now().Add(wait))
		c.logger().Info("closing connection", "code", req.code, "reason", req.reason)
	}
	if req.graceful {
		grace := time.NewTimer(cfg.CloseGrace)
		select {
		case <-c.readerExited:
		case <-grace.C:
		}
		grace.Stop()
	}
	_ = c.ws.Close()
	<-c.readerExited
	// The housekeeper may still hold c for a while (its join deadline):
	// let go of the frames now.
	c.mu.Lock()
	c.queue, c.replies, c.held = nil, nil, nil
	c.mu.Unlock()
}

// takeQueued removes and returns the room frames queued but not yet
// taken by the writer, for a session that is being held after the
// connection dropped. The caller holds the session's lock.
func (c *conn) takeQueued() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([][]byte, len(c.queue))
	for i, f := range c.queue {
		out[i] = f.data
	}
	c.queue = nil
	return out
}
