package turn

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/videochat/videochat/signal/proto"
)

// ICEServerSpec is one configured ICE server URL, parsed.
type ICEServerSpec struct {
	// URL is the stun:, turn: or turns: URL without credentials.
	URL string
	// Username and Credential are static credentials given in the URL
	// (turn:USER:PASS@host:port); empty means TURN REST credentials.
	Username, Credential string
}

// ParseICEServer parses one --ice-server value: stun:host[:port],
// turn:host[:port][?transport=udp|tcp] or turns:host[:port][?transport=tcp],
// optionally with static credentials as turn:USER:PASS@host… (percent-
// encoded where needed).
func ParseICEServer(s string) (ICEServerSpec, error) {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(s), ":")
	scheme = strings.ToLower(scheme)
	if !ok || rest == "" || (scheme != "stun" && scheme != "stuns" && scheme != "turn" && scheme != "turns") {
		return ICEServerSpec{}, fmt.Errorf("ice server %q: want a stun:, stuns:, turn: or turns: URL", s)
	}
	var spec ICEServerSpec
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		user, pass, ok := strings.Cut(rest[:at], ":")
		var err1, err2 error
		spec.Username, err1 = url.PathUnescape(user)
		spec.Credential, err2 = url.PathUnescape(pass)
		if !ok || spec.Username == "" || err1 != nil || err2 != nil {
			return ICEServerSpec{}, fmt.Errorf("ice server %q: credentials must be USER:PASSWORD@", redact(s))
		}
		if scheme == "stun" || scheme == "stuns" {
			return ICEServerSpec{}, fmt.Errorf("ice server %q: STUN takes no credentials", redact(s))
		}
		rest = rest[at+1:]
	}
	hostport, query, _ := strings.Cut(rest, "?")
	if hostport == "" || strings.ContainsAny(hostport, "/ ") {
		return ICEServerSpec{}, fmt.Errorf("ice server %q: bad host", redact(s))
	}
	if query != "" {
		q, err := url.ParseQuery(query)
		t := q.Get("transport")
		if err != nil || len(q) != 1 || (t != "udp" && t != "tcp") || scheme == "stun" || scheme == "stuns" {
			return ICEServerSpec{}, fmt.Errorf("ice server %q: only turn URLs take ?transport=udp|tcp", redact(s))
		}
		hostport += "?transport=" + t
	}
	spec.URL = scheme + ":" + hostport
	return spec, nil
}

// redact hides a password in an ICE server URL for error messages.
func redact(s string) string {
	if at := strings.LastIndex(s, "@"); at >= 0 {
		if scheme, _, ok := strings.Cut(s[:at], ":"); ok {
			return scheme + ":…@" + s[at+1:]
		}
	}
	return s
}

// ICEServers parses the configured ICE server URLs and returns the
// function signal.Config.ICEServers wants: STUN URLs and TURN URLs with
// static credentials are passed as they are; the other TURN URLs get TURN
// REST credentials for the peer, valid for ttl, made from secret (the
// embedded server's or an external coturn's use-auth-secret). A TURN URL
// without credentials and without a secret is an error.
func ICEServers(urls []string, secret []byte, ttl time.Duration) (func(peerID string) []proto.ICEServer, error) {
	var stun, rest []string
	var static []proto.ICEServer
	var errs []error
	for _, u := range urls {
		spec, err := ParseICEServer(u)
		switch {
		case err != nil:
			errs = append(errs, err)
		case strings.HasPrefix(spec.URL, "stun"):
			stun = append(stun, spec.URL)
		case spec.Username != "":
			static = append(static, proto.ICEServer{URLs: []string{spec.URL}, Username: spec.Username, Credential: spec.Credential})
		case len(secret) == 0:
			errs = append(errs, fmt.Errorf("ice server %q: TURN needs USER:PASS@ in the URL or a TURN secret", u))
		default:
			rest = append(rest, spec.URL)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	return func(peerID string) []proto.ICEServer {
		var out []proto.ICEServer
		if len(stun) > 0 {
			out = append(out, proto.ICEServer{URLs: slices.Clone(stun)})
		}
		if len(rest) > 0 {
			user, pass := Credentials(secret, peerID, ttl, time.Now())
			out = append(out, proto.ICEServer{URLs: slices.Clone(rest), Username: user, Credential: pass})
		}
		for _, st := range static {
			out = append(out, proto.ICEServer{URLs: slices.Clone(st.URLs), Username: st.Username, Credential: st.Credential})
		}
		return out
	}, nil
}
