package peer

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/videochat/videochat/signal/proto"
)

// TestCancelledJoinLeaves: a peer interrupted after it sent its join but
// before the welcome arrived tells the server it leaves and closes
// cleanly. The server may have admitted it already; without the leave it
// would hold the peer's place for a resume and the others would see it
// go only when the grace period ends.
func TestCancelledJoinLeaves(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan []string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		var seen []string
		defer func() { got <- seen }()
		for {
			_, data, err := ws.ReadMessage()
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				seen = append(seen, ce.Error())
				return
			}
			if err != nil {
				seen = append(seen, "error "+err.Error())
				return
			}
			var m proto.Message
			if err := json.Unmarshal(data, &m); err != nil {
				seen = append(seen, "bad frame")
				return
			}
			seen = append(seen, m.Type)
			if m.Type == proto.TypeJoin {
				cancel() // interrupted while the welcome is on its way
			}
		}
	}))
	defer srv.Close()
	wsURL, err := proto.SignalURL(srv.URL, "r")
	if err != nil {
		t.Fatal(err)
	}
	j := proto.Message{Type: proto.TypeJoin, Version: proto.Version, Name: "n"}
	if _, _, err := dialSignal(ctx, wsURL, j, slog.New(slog.DiscardHandler)); !errors.Is(err, context.Canceled) {
		t.Fatalf("dialSignal = %v, want context.Canceled (server saw %q)", err, <-got)
	}
	seen := <-got
	if len(seen) != 3 || seen[0] != proto.TypeJoin || seen[1] != proto.TypeLeave || !strings.Contains(seen[2], "close 1000 ") {
		t.Fatalf("server saw %q, want join, leave and a normal close", seen)
	}
}
