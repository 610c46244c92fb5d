// Package web serves videochat's browser client: a landing page, the call
// page and the static ES modules, all embedded in the binary. The client
// speaks the signalling protocol (package signal/proto) over the WebSocket
// at /ws/{room} on the same origin; that endpoint is served elsewhere.
package web

import (
	"embed"
	"io/fs"
	"log/slog"
	"net/http"
	"path"

	"github.com/videochat/videochat/signal/proto"
)

//go:embed static
var content embed.FS

// Config configures the client handler.
type Config struct {
	// Logger receives request problems worth a log line. Nil discards them.
	Logger *slog.Logger
}

// contentType returns the media type of an embedded file by its extension,
// so it does not depend on the host's /etc/mime.types (module scripts need a
// JavaScript type). It reports false for extensions the client never uses.
func contentType(ext string) (string, bool) {
	switch ext {
	case ".html":
		return "text/html; charset=utf-8", true
	case ".js":
		return "text/javascript; charset=utf-8", true
	case ".css":
		return "text/css; charset=utf-8", true
	case ".svg":
		return "image/svg+xml", true
	}
	return "", false
}

// Handler returns the handler of the browser client. It serves
//
//   - GET / — the landing page (room name, display name, join button);
//   - GET /room/{room} — the call page; ?name=N joins at once, ?token=T
//     joins with room token T (its name is used), ?relay=1 forces relayed
//     (TURN) ICE candidates. The page resumes its session when the
//     signalling connection drops;
//   - GET /static/… — the page's scripts and styles.
//
// Every other path gets 404. The handler may be mounted at "/" on a mux that
// routes more specific patterns (such as /ws/{room} and /healthz) elsewhere.
func Handler(cfg Config) http.Handler {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	static, err := fs.Sub(content, "static")
	if err != nil {
		panic("web: embedded static directory missing: " + err.Error())
	}
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", page(static, "index.html"))
	mux.Handle("GET /room/{room}", roomPage(static, log))
	mux.Handle("GET /static/", http.StripPrefix("/static/", assets(static)))
	return mux
}

// page serves one embedded HTML file.
func page(static fs.FS, name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setCommonHeaders(w)
		http.ServeFileFS(w, r, static, name)
	})
}

// roomPage serves the call page for a valid room name and 404 otherwise.
func roomPage(static fs.FS, log *slog.Logger) http.Handler {
	call := page(static, "room.html")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		room := r.PathValue("room")
		if !proto.ValidRoom(room) {
			log.Debug("invalid room name in URL", "path", r.URL.Path)
			http.Error(w, "invalid room name: use 1-64 letters, digits, '-', '_' or '.'", http.StatusNotFound)
			return
		}
		call.ServeHTTP(w, r)
	})
}

// assets serves the embedded scripts and styles with fixed content types.
// Directory listings are refused.
func assets(static fs.FS) http.Handler {
	files := http.FileServerFS(static)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Path
		ct, ok := contentType(path.Ext(name))
		if !ok || name == "" || name[len(name)-1] == '/' {
			http.NotFound(w, r)
			return
		}
		setCommonHeaders(w)
		w.Header().Set("Content-Type", ct)
		files.ServeHTTP(w, r)
	})
}

// setCommonHeaders sets the headers every client response carries. The
// client is small and changes with the binary, so browsers revalidate.
func setCommonHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy",
		"default-src 'self'; connect-src 'self'; media-src 'self' blob: mediastream:; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
}
