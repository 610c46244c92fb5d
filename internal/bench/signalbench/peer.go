package signalbench

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/videochat/videochat/internal/wstest"
)

// peer is one generated client. Its reader goroutine owns the gorilla
// connection's read side; every write goes straight to the TCP connection
// under wmu, from the joiner (the join frame), a sender shard (candidates)
// or the ping handler (pongs).
type peer struct {
	idx  int
	room string
	ws   *websocket.Conn
	nc   net.Conn
	wmu  sync.Mutex

	id      string        // set from welcome, before the load phase
	welcome chan string   // the id in the welcome, once
	done    chan struct{} // closed when the reader returns
	alive   atomic.Bool
	closing atomic.Bool // set before the bench closes it: not an eviction

	target string // room-mate the load phase sends to ("" sends nothing)
	tmpl   template
	phase  float64 // 0..1, spreads the peers' sends over time
}

// write sends raw frames.
func (p *peer) write(b []byte) error {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	_, err := p.nc.Write(b)
	return err
}

// setWriteDeadline bounds the writes of the next phase.
func (p *peer) setWriteDeadline(t time.Time) {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	_ = p.nc.SetWriteDeadline(t)
}

// pong answers a server ping with a masked pong frame.
func (p *peer) pong(data string) error {
	frame := wstest.ClientFrame(nil, []byte(data))
	frame[0] = 0x8A // FIN + pong
	return p.write(frame)
}

// readLoop reads server frames until the connection ends: welcomes go to
// the joiner, candidates' latencies and errors to the recorder.
func (p *peer) readLoop(rec *recorder) {
	defer close(p.done)
	p.ws.SetPingHandler(p.pong)
	p.ws.SetCloseHandler(func(int, string) error { return nil })
	buf := make([]byte, 0, 512)
	for {
		_, r, err := p.ws.NextReader()
		if err == nil {
			buf, err = readAll(r, buf[:0])
		}
		if err != nil {
			p.alive.Store(false)
			if !p.closing.Load() {
				rec.current().addClose(closeReason(err))
			}
			return
		}
		p.handle(buf, rec)
	}
}

func (p *peer) handle(frame []byte, rec *recorder) {
	switch kindOf(frame) {
	case kindCandidate:
		if ts, ok := stampOf(frame); ok {
			rec.relayed(ts)
		}
	case kindWelcome:
		var m struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(frame, &m)
		select {
		case p.welcome <- m.ID:
		default:
		}
	case kindError:
		var m struct {
			Code string `json:"code"`
		}
		_ = json.Unmarshal(frame, &m)
		rec.current().addError(m.Code)
	}
}

// close drops the connection on purpose.
func (p *peer) close() {
	p.closing.Store(true)
	_ = p.nc.Close()
}

// readAll reads r to EOF into b, growing it as needed.
func readAll(r io.Reader, b []byte) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if errors.Is(err, io.EOF) {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// closeReason names why a connection ended, for the eviction count.
func closeReason(err error) string {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		if ce.Text != "" {
			return ce.Text
		}
		return "close-" + strconv.Itoa(ce.Code)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return "connection-error"
}
