package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/videochat/videochat/web"
)

func get(t *testing.T, h http.Handler, method, path string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	res := rec.Result()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(body)
}

func TestHandlerServesPagesAndAssets(t *testing.T) {
	h := web.Handler(web.Config{})
	tests := []struct {
		method, path string
		status       int
		ctype        string
		contains     string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8", `id="join-form"`},
		{"HEAD", "/", 200, "text/html; charset=utf-8", ""},
		{"GET", "/room/demo", 200, "text/html; charset=utf-8", `id="local-video"`},
		{"GET", "/room/demo?name=Ann&relay=1", 200, "text/html; charset=utf-8", `id="chat-form"`},
		{"GET", "/room/a.b_c-D9", 200, "text/html; charset=utf-8", `id="leave"`},
		{"GET", "/room/" + strings.Repeat("x", 65), 404, "", "invalid room name"},
		{"GET", "/room/bad%20room", 404, "", "invalid room name"},
		{"GET", "/room/", 404, "", ""},
		{"GET", "/static/js/room.js", 200, "text/javascript; charset=utf-8", "window.videochat"},
		{"GET", "/static/js/peer.js", 200, "text/javascript; charset=utf-8", "setLocalDescription()"},
		{"GET", "/static/style.css", 200, "text/css; charset=utf-8", "@media"},
		{"GET", "/static/", 404, "", ""},
		{"GET", "/static/js/", 404, "", ""},
		{"GET", "/static/missing.js", 404, "", ""},
		{"GET", "/nope", 404, "", ""},
		{"POST", "/", 405, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			res, body := get(t, h, tc.method, tc.path)
			if res.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d (body %.100q)", res.StatusCode, tc.status, body)
			}
			if tc.ctype != "" {
				if got := res.Header.Get("Content-Type"); got != tc.ctype {
					t.Errorf("Content-Type = %q, want %q", got, tc.ctype)
				}
				if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
					t.Errorf("X-Content-Type-Options = %q, want nosniff", got)
				}
			}
			if !strings.Contains(body, tc.contains) {
				t.Errorf("body does not contain %q", tc.contains)
			}
		})
	}
}

// TestHandlerServesEveryReferencedModule follows the script tags and import
// statements from both pages and fetches each module they name.
func TestHandlerServesEveryReferencedModule(t *testing.T) {
	h := web.Handler(web.Config{})
	scriptSrc := regexp.MustCompile(`<script type="module" src="([^"]+)"`)
	importFrom := regexp.MustCompile(`(?m)^import .* from '\./([^']+)';`)
	var queue []string
	for _, page := range []string{"/", "/room/demo"} {
		_, body := get(t, h, "GET", page)
		m := scriptSrc.FindAllStringSubmatch(body, -1)
		if len(m) == 0 {
			t.Fatalf("%s has no module script", page)
		}
		for _, s := range m {
			queue = append(queue, s[1])
		}
	}
	seen := map[string]bool{}
	for len(queue) > 0 {
		path := queue[0]
		queue = queue[1:]
		if seen[path] {
			continue
		}
		seen[path] = true
		res, body := get(t, h, "GET", path)
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/javascript") {
			t.Errorf("%s: status %d, type %q", path, res.StatusCode, res.Header.Get("Content-Type"))
			continue
		}
		dir := path[:strings.LastIndex(path, "/")+1]
		for _, m := range importFrom.FindAllStringSubmatch(body, -1) {
			queue = append(queue, dir+m[1])
		}
	}
	if len(seen) < 6 {
		t.Errorf("followed only %d modules: %v", len(seen), seen)
	}
}

// TestHandlerMountedAtRoot checks that the handler leaves more specific
// patterns of the same mux alone, as cmd/videochat mounts it.
func TestHandlerMountedAtRoot(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws/{room}", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ws:"+r.PathValue("room"))
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	})
	mux.Handle("/", web.Handler(web.Config{}))
	for path, want := range map[string]string{
		"/ws/demo":   "ws:demo",
		"/healthz":   "ok",
		"/":          `id="join-form"`,
		"/room/demo": `id="local-video"`,
	} {
		res, body := get(t, mux, "GET", path)
		if res.StatusCode != 200 || !strings.Contains(body, want) {
			t.Errorf("GET %s: status %d, body %.80q; want %q", path, res.StatusCode, body, want)
		}
	}
}
