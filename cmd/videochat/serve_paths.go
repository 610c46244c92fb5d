package main

import (
	"net/http"
	"path"
	"strings"
)

// refuseUncleanWS answers 404 to a path under /ws/ that is not in clean
// form (/ws/.., /ws/., /ws//r, /ws/r/): it names no room. Without it the
// ServeMux would redirect the request to the cleaned path (another
// endpoint, or the web page), and a client that follows the redirect
// would land there.
func refuseUncleanWS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; strings.HasPrefix(p, "/ws/") && path.Clean(p) != p {
			http.NotFound(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}
