package whip

// HTTP surface. Resources:
//
//	POST   /whip/{room}?name=N             WHIP endpoint: offer in, 201 + answer
//	PATCH  /whip/{room}/{session}          trickle ICE / ICE restart
//	DELETE /whip/{room}/{session}          end the session
//	POST   /whep/{room}/{name}             WHEP endpoint: plays participant {name}
//	PATCH  /whep/{room}/{name}/{session}
//	DELETE /whep/{room}/{name}/{session}
//
// OPTIONS answers every path (CORS preflight, Accept-Post/Accept-Patch, and
// Link headers on endpoints); other methods get 405 with Allow.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/videochat/videochat/signal/proto"
	"github.com/videochat/videochat/signal/token"
)

const (
	mimeSDP     = "application/sdp"
	mimeFrag    = "application/trickle-ice-sdpfrag"
	allowEndpt  = "POST, OPTIONS"
	allowSessn  = "PATCH, DELETE, OPTIONS"
	corsHeaders = "Authorization, Content-Type, If-Match, ETag" // ETag: @eyevinn/whip-web-client sends it on PATCH
	// corsMethods are allowed cross-origin on every path, endpoint and
	// session alike: some clients (@eyevinn/whip-web-client) read the
	// endpoint's list to decide whether to trickle through PATCH.
	corsMethods = "POST, PATCH, DELETE, OPTIONS"
	corsExpose  = "Location, Link, ETag, Accept-Patch, Accept-Post, Access-Control-Allow-Methods" // the last for clients that check for PATCH
)

// Handler serves the WHIP and WHEP endpoints. Create it with New, mount it
// on "/whip/" and "/whep/", and Close it before the signalling server.
type Handler struct {
	cfg    Config
	log    *slog.Logger
	tokens *token.Verifier

	mu       sync.Mutex
	closed   bool
	sessions map[string]*session
	watchers map[string]*watcher // room → the room's WHEP watcher
	wg       sync.WaitGroup      // supervisors and watchers
}

// New validates cfg and returns a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.API == nil {
		return nil, errors.New("whip: Config.API is required")
	}
	if cfg.Server == nil {
		return nil, errors.New("whip: Config.Server is required")
	}
	cfg.setDefaults()
	h := &Handler{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "whip"),
		sessions: make(map[string]*session),
		watchers: make(map[string]*watcher),
	}
	if len(cfg.TokenSecret) > 0 {
		v, err := token.NewVerifier(cfg.TokenSecret)
		if err != nil {
			return nil, fmt.Errorf("whip: %w", err)
		}
		h.tokens = v
	}
	return h, nil
}

// Close ends every session and watcher and waits for them. Later requests
// get 503.
func (h *Handler) Close() {
	h.mu.Lock()
	h.closed = true
	ss := make([]*session, 0, len(h.sessions))
	for _, s := range h.sessions {
		ss = append(ss, s)
	}
	h.mu.Unlock()
	for _, s := range ss {
		s.end("server shutdown")
	}
	h.wg.Wait()
}

// Sessions returns the number of open sessions (for tests and metrics).
func (h *Handler) Sessions() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sessions)
}

// SessionsOf returns the number of open sessions of one kind, "whip" or
// "whep" (for metrics).
func (h *Handler) SessionsOf(kind string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, s := range h.sessions {
		if s.kind == kind {
			n++
		}
	}
	return n
}

// ServeHTTP routes a request under /whip/ or /whep/.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cors(w.Header())
	segs, ok := pathSegments(r.URL)
	if !ok || len(segs) < 2 {
		writeError(w, errorf(http.StatusNotFound, codeNotFound, "no such resource"))
		return
	}
	kind, rest := segs[0], segs[1:]
	var endpoint bool
	switch {
	case kind == "whip" && h.cfg.WHIP && len(rest) <= 2:
		endpoint = len(rest) == 1
	case kind == "whep" && h.cfg.WHEP && len(rest) >= 2 && len(rest) <= 3:
		endpoint = len(rest) == 2
	default:
		writeError(w, errorf(http.StatusNotFound, codeNotFound, "no such resource"))
		return
	}
	room := rest[0]
	if !proto.ValidRoom(room) {
		writeError(w, errorf(http.StatusNotFound, codeNotFound, "invalid room name"))
		return
	}
	if r.Method == http.MethodOptions {
		h.options(w, r, kind, room, endpoint)
		return
	}
	if endpoint {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", allowEndpt)
			writeError(w, errorf(http.StatusMethodNotAllowed, codeMethod, "use POST with an SDP offer"))
			return
		}
		var err error
		if kind == "whip" {
			err = h.postWHIP(w, r, room)
		} else {
			err = h.postWHEP(w, r, room, rest[1])
		}
		if err != nil {
			var he *httpError
			if !errors.As(err, &he) {
				h.log.Warn("session setup failed", "kind", kind, "room", room, "err", err)
			}
			writeError(w, err)
		}
		return
	}
	id := rest[len(rest)-1]
	var err error
	switch r.Method {
	case http.MethodPatch:
		err = h.patch(w, r, kind, rest)
	case http.MethodDelete:
		err = h.delete(w, r, kind, rest)
	default:
		w.Header().Set("Allow", allowSessn)
		err = errorf(http.StatusMethodNotAllowed, codeMethod, "a session resource takes PATCH or DELETE")
	}
	if err != nil {
		h.log.Debug("session request refused", "method", r.Method, "session", id, "err", err)
		writeError(w, err)
	}
}

// pathSegments splits the unescaped path into its non-empty segments.
func pathSegments(u *url.URL) ([]string, bool) {
	var out []string
	for _, s := range strings.Split(strings.Trim(u.EscapedPath(), "/"), "/") {
		v, err := url.PathUnescape(s)
		if err != nil || v == "" {
			return nil, false
		}
		out = append(out, v)
	}
	return out, true
}

// cors sets the CORS headers every answer carries. Any origin may call:
// the endpoints authenticate with bearer tokens, never cookies.
func cors(h http.Header) {
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Expose-Headers", corsExpose)
}

func (h *Handler) options(w http.ResponseWriter, r *http.Request, kind, room string, endpoint bool) {
	hd := w.Header()
	hd.Set("Access-Control-Allow-Headers", corsHeaders)
	hd.Set("Access-Control-Max-Age", "600")
	if endpoint {
		hd.Set("Allow", allowEndpt)
		hd.Set("Access-Control-Allow-Methods", corsMethods)
		hd.Set("Accept-Post", mimeSDP)
		// Link headers let a client gather with our ICE servers before its
		// POST (RFC 9725 section 4.4); not for CORS preflights, which must
		// not spend credentials.
		if r.Header.Get("Access-Control-Request-Method") == "" {
			h.linkICEServers(hd, kind+"-options")
		}
	} else {
		hd.Set("Allow", allowSessn)
		hd.Set("Access-Control-Allow-Methods", corsMethods)
		hd.Set("Accept-Patch", mimeFrag)
	}
	w.WriteHeader(http.StatusNoContent)
}

// linkICEServers adds one Link header per ICE server URL (RFC 9725
// section 4.4).
func (h *Handler) linkICEServers(hd http.Header, user string) {
	if h.cfg.ICEServers == nil {
		return
	}
	for _, s := range h.cfg.ICEServers(user) {
		for _, u := range s.URLs {
			v := "<" + u + `>; rel="ice-server"`
			if s.Username != "" || s.Credential != "" {
				v += fmt.Sprintf(`; username="%s"; credential="%s"; credential-type="password"`, quote(s.Username), quote(s.Credential))
			}
			hd.Add("Link", v)
		}
	}
}

func quote(s string) string { return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) }

// authorize checks the bearer token when the server requires tokens. It
// returns the claims (zero on an open server).
func (h *Handler) authorize(r *http.Request, room string) (token.Claims, string, *httpError) {
	if h.tokens == nil {
		return token.Claims{}, "", nil
	}
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || strings.TrimSpace(tok) == "" {
		return token.Claims{}, "", errorf(http.StatusUnauthorized, codeUnauthorized, "this server needs \"Authorization: Bearer <room token>\"")
	}
	tok = strings.TrimSpace(tok)
	c, err := h.tokens.Verify(tok, room)
	if err != nil {
		h.log.Info("refused token", "room", room, "err", err)
		return token.Claims{}, "", errorf(http.StatusUnauthorized, codeUnauthorized, "the room token is not valid for this room")
	}
	return c, tok, nil
}

// readBody checks the content type and reads a body of at most MaxSDP bytes.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request, want string) (string, *httpError) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != want {
		return "", errorf(http.StatusUnsupportedMediaType, codeContentType, "the body must be %s", want)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(h.cfg.MaxSDP)))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return "", errorf(http.StatusRequestEntityTooLarge, codeTooLarge, "the body is larger than %d bytes", h.cfg.MaxSDP)
		}
		return "", errorf(http.StatusBadRequest, codeBadRequest, "could not read the body")
	}
	return string(body), nil
}

// clientIP is the host part of the request's remote address.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// newID returns a random session id (128 bits, hex): the session URL is
// unguessable.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// newETag returns a fresh entity tag for a session's ICE state.
func newETag() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return `"` + hex.EncodeToString(b[:]) + `"`
}

// register adds s to the registry unless the handler is closed or full.
func (h *Handler) register(s *session) *httpError {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return errorf(http.StatusServiceUnavailable, codeUnavailable, "the server is shutting down")
	}
	if len(h.sessions) >= h.cfg.MaxSessions {
		return errorf(http.StatusServiceUnavailable, codeUnavailable, "the server holds its maximum number of WHIP/WHEP sessions")
	}
	h.sessions[s.id] = s
	h.wg.Add(1)
	return nil
}

func (h *Handler) unregister(s *session) {
	h.mu.Lock()
	delete(h.sessions, s.id)
	h.mu.Unlock()
	h.wg.Done()
}

// lookup finds the session a PATCH or DELETE names; the path must match
// the one its Location gave.
func (h *Handler) lookup(kind string, rest []string) *session {
	h.mu.Lock()
	s := h.sessions[rest[len(rest)-1]]
	h.mu.Unlock()
	if s == nil || s.kind != kind || !slices.Equal(s.segs, rest) {
		return nil
	}
	return s
}

func (h *Handler) delete(w http.ResponseWriter, r *http.Request, kind string, rest []string) error {
	if _, _, err := h.authorize(r, rest[0]); err != nil {
		return err
	}
	s := h.lookup(kind, rest)
	if s == nil {
		return errorf(http.StatusNotFound, codeNotFound, "no such session (ended, reaped, or never created)")
	}
	s.end("deleted")
	w.WriteHeader(http.StatusOK)
	return nil
}

// waitCtx is a context for a POST's waits: the request's, bounded by d.
func waitCtx(r *http.Request, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), d)
}
