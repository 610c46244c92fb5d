package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gorilla/websocket"

	"github.com/videochat/videochat/signal/proto"
)

// checkJoin opens the WebSocket, joins as "doctor", reads the welcome and
// leaves. It returns the welcome's ICE servers.
func checkJoin(ctx context.Context, cfg Config) ([]proto.ICEServer, Check) {
	start := time.Now()
	fail := func(format string, args ...any) ([]proto.ICEServer, Check) {
		return nil, Check{ElapsedMS: time.Since(start).Milliseconds(), Message: fmt.Sprintf(format, args...)}
	}
	target, err := proto.SignalURL(cfg.Server, cfg.Room)
	if err != nil {
		return fail("%v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	conn, resp, err := websocket.DefaultDialer.DialContext(ctx, target, nil)
	if err != nil {
		if resp != nil {
			return fail("WebSocket %s: HTTP %s (is this a videochat server?)", target, resp.Status)
		}
		return fail("WebSocket %s: %v (server down or unreachable?)", target, err)
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	_ = conn.SetWriteDeadline(deadline)
	_ = conn.SetReadDeadline(deadline)
	if err := conn.WriteJSON(proto.Message{Type: proto.TypeJoin, Version: proto.Version, Name: "doctor"}); err != nil {
		return fail("WebSocket %s: sending join: %v", target, err)
	}
	welcome, err := readWelcome(conn)
	if err != nil {
		return fail("WebSocket %s: %v", target, err)
	}
	_ = conn.WriteJSON(proto.Message{Type: proto.TypeLeave})
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), deadline)
	n := 0
	for _, s := range welcome.ICEServers {
		n += len(s.URLs)
	}
	return welcome.ICEServers, Check{OK: true, ElapsedMS: time.Since(start).Milliseconds(),
		Message: fmt.Sprintf("joined room %q as peer %s, protocol v%d; %d ICE server URL(s) handed out",
			welcome.Room, welcome.ID, proto.Version, n)}
}

// readWelcome reads the reply to join: a welcome, or a coded error.
func readWelcome(conn *websocket.Conn) (proto.Message, error) {
	_, data, err := conn.ReadMessage()
	if err != nil {
		var ne interface{ Timeout() bool }
		if errors.As(err, &ne) && ne.Timeout() {
			return proto.Message{}, errors.New("no welcome after join (timed out)")
		}
		return proto.Message{}, fmt.Errorf("reading welcome: %w", err)
	}
	var m proto.Message
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("reply to join is not a protocol message: %w", err)
	}
	switch {
	case m.Type == proto.TypeError:
		return m, fmt.Errorf("join refused: %s: %s", m.Code, m.Message)
	case m.Type != proto.TypeWelcome:
		return m, fmt.Errorf("expected a welcome message, got %q (protocol mismatch?)", m.Type)
	case m.ID == "":
		return m, errors.New("welcome carries no peer id (protocol mismatch?)")
	}
	return m, nil
}
