package signal

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// checkOrigin is the Upgrader's CheckOrigin. It accepts a request without
// an Origin header (native clients send none), an Origin whose host equals
// the request's Host, and the configured allowed origins. Everything else is
// refused, and gorilla answers the handshake with 403 Forbidden.
func (s *Server) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	allowed := s.cfg.AllowedOrigins
	return slices.Contains(allowed, "*") ||
		slices.Contains(allowed, strings.ToLower(u.Scheme+"://"+u.Host))
}
