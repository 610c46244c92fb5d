package proto

import (
	"fmt"
	"net/url"
	"strings"
)

// SignalURL derives the WebSocket URL of room from a server's base URL:
// http and ws become ws, https and wss become wss, and the path gets
// "/ws/{room}"; a query or fragment is dropped.
func SignalURL(server, room string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(server))
	if err != nil {
		return "", fmt.Errorf("server URL %q: %w", server, err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("server URL %q: scheme must be http, https, ws or wss", server)
	}
	if u.Host == "" {
		return "", fmt.Errorf("server URL %q: no host (want a URL like http://host:port)", server)
	}
	u.Path = strings.TrimRight(u.Path, "/") + "/ws/" + url.PathEscape(room)
	u.RawPath = ""
	u.RawQuery, u.Fragment = "", ""
	return u.String(), nil
}
