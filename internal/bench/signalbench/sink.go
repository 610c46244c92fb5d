package signalbench

import (
	"bytes"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/gorilla/websocket"

	"github.com/videochat/videochat/signal/proto"
)

// Sink is a trivial stand-in for the signalling server, to measure the
// load generator's own ceiling: it answers a join with a welcome and sends
// every other frame straight back to its sender, parsing nothing. Mount it
// at "GET /ws/{room}".
type Sink struct {
	upgrader websocket.Upgrader
	ids      atomic.Uint64
}

// NewSink returns a Sink.
func NewSink() *Sink {
	return &Sink{upgrader: websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 1024}}
}

var joinPrefix = []byte(`{"type":"join"`)

// ServeHTTP echoes the connection's frames until it closes.
func (s *Sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer ws.Close()
	buf := make([]byte, 0, 512)
	for {
		mt, rd, err := ws.NextReader()
		if err == nil {
			buf, err = readAll(rd, buf[:0])
		}
		if err != nil {
			return
		}
		out := buf
		if bytes.HasPrefix(buf, joinPrefix) {
			id := "sink-" + strconv.FormatUint(s.ids.Add(1), 10)
			out = proto.Encode(proto.Message{Type: proto.TypeWelcome, ID: id, Room: r.PathValue("room")})
		}
		if ws.WriteMessage(mt, out) != nil {
			return
		}
	}
}
