package whip

// The client side of WHIP and WHEP, for the native peer (videochat join
// --whip/--whep) and the tests: one POST with a complete offer (all
// candidates gathered first), the answer applied, DELETE at the end, and
// ICE restarts through PATCH.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"
)

// StatusError is an endpoint's refusal: the HTTP status and its body.
type StatusError struct {
	Status int
	Body   string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("HTTP %d: %s", e.Status, strings.TrimSpace(e.Body))
}

// ClientSession is a session created by Dial.
type ClientSession struct {
	// Location is the absolute URL of the session resource.
	Location string
	// ETag is the session's current entity tag.
	ETag string
	// ICEServers are the servers the endpoint announced in Link headers.
	ICEServers []webrtc.ICEServer

	hc    *http.Client
	token string
	pc    *webrtc.PeerConnection
}

// Dial offers pc (its transceivers already added) to a WHIP or WHEP
// endpoint, applies the answer and returns the session. token, when not
// empty, goes in "Authorization: Bearer".
func Dial(ctx context.Context, hc *http.Client, endpoint, token string, pc *webrtc.PeerConnection) (*ClientSession, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	useAnnouncedICEServers(ctx, hc, endpoint, token, pc)
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return nil, fmt.Errorf("create offer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return nil, fmt.Errorf("set offer: %w", err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(pc.LocalDescription().SDP))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", mimeSDP)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, DefaultMaxSDP))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusCreated {
		return nil, &StatusError{Status: resp.StatusCode, Body: string(body)}
	}
	loc, err := resp.Location()
	if err != nil {
		return nil, fmt.Errorf("the endpoint's 201 has no usable Location: %w", err)
	}
	cs := &ClientSession{
		Location:   loc.String(),
		ETag:       resp.Header.Get("ETag"),
		ICEServers: ParseLinks(resp.Header.Values("Link")),
		hc:         hc,
		token:      token,
		pc:         pc,
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)}); err != nil {
		_ = cs.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("apply answer: %w", err)
	}
	return cs, nil
}

// useAnnouncedICEServers asks the endpoint for its ICE servers (OPTIONS,
// RFC 9725 section 4.4) and, when it names some and pc has none of its own,
// gathers through them: a client behind NAT then has the TURN relay the
// endpoint offers. Endpoints that do not answer OPTIONS are fine.
func useAnnouncedICEServers(ctx context.Context, hc *http.Client, endpoint, token string, pc *webrtc.PeerConnection) {
	cfg := pc.GetConfiguration()
	if len(cfg.ICEServers) > 0 {
		return
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodOptions, endpoint, nil)
	if err != nil {
		return
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return
	}
	if servers := ParseLinks(resp.Header.Values("Link")); len(servers) > 0 {
		cfg.ICEServers = servers
		_ = pc.SetConfiguration(cfg)
	}
}

// Close ends the session with DELETE. A 404 (already reaped) counts as done.
func (c *ClientSession) Close(ctx context.Context) error {
	resp, err := c.do(ctx, http.MethodDelete, "", nil, "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 && resp.StatusCode != http.StatusNotFound {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return &StatusError{Status: resp.StatusCode, Body: string(b)}
	}
	return nil
}

// RestartICE restarts ICE through PATCH (RFC 9725 section 4.3.2): a new
// local offer with fresh credentials, its credentials and candidates sent
// with If-Match: "*", the endpoint's new credentials and candidates applied
// as the answer.
func (c *ClientSession) RestartICE(ctx context.Context) error {
	offer, err := c.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: true})
	if err != nil {
		return err
	}
	gathered := webrtc.GatheringCompletePromise(c.pc)
	if err := c.pc.SetLocalDescription(offer); err != nil {
		return err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return ctx.Err()
	}
	resp, err := c.do(ctx, http.MethodPatch, mimeFrag, []byte(localFrag(c.pc.LocalDescription().SDP)), "*")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, DefaultMaxSDP))
	if resp.StatusCode != http.StatusOK {
		return &StatusError{Status: resp.StatusCode, Body: string(body)}
	}
	frag, herr := parseFrag(string(body))
	if herr != nil {
		return herr
	}
	c.ETag = resp.Header.Get("ETag")
	ans := withCredentials(c.pc.RemoteDescription().SDP, frag.ufrag, frag.pwd)
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ans}); err != nil {
		return err
	}
	for _, fc := range frag.cands {
		init := webrtc.ICECandidateInit{Candidate: fc.line}
		if fc.mid != "" {
			mid := fc.mid
			init.SDPMid = &mid
		}
		if err := c.pc.AddICECandidate(init); err != nil {
			return err
		}
	}
	return nil
}

// KeepConnected restarts ICE through PATCH (RestartICE) whenever the
// connection has failed, or stayed disconnected for after, retrying a
// restart that did not reconnect after after, then twice as long each time
// (at most a minute). It returns nil when ctx ends, and the endpoint's
// answer when it says the session is gone (404).
func (c *ClientSession) KeepConnected(ctx context.Context, after time.Duration) error {
	tick := time.NewTicker(after / 10)
	defer tick.Stop()
	var badSince, nextTry time.Time
	wait := after
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			switch c.pc.ICEConnectionState() {
			case webrtc.ICEConnectionStateConnected, webrtc.ICEConnectionStateCompleted:
				badSince, wait = time.Time{}, after
				continue
			case webrtc.ICEConnectionStateDisconnected, webrtc.ICEConnectionStateFailed:
				if badSince.IsZero() {
					badSince, nextTry = now, now.Add(after)
					if c.pc.ICEConnectionState() == webrtc.ICEConnectionStateFailed {
						nextTry = now
					}
				}
			default:
				continue
			}
			if now.Before(nextTry) {
				continue
			}
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			err := c.RestartICE(rctx)
			cancel()
			var se *StatusError
			if errors.As(err, &se) && se.Status == http.StatusNotFound {
				return err
			}
			nextTry = time.Now().Add(wait)
			wait = min(2*wait, time.Minute)
		}
	}
}

func (c *ClientSession) do(ctx context.Context, method, ctype string, body []byte, ifMatch string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.Location, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if ifMatch != "" {
		req.Header.Set("If-Match", ifMatch)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return c.hc.Do(req)
}

// ParseLinks reads the ICE servers of Link headers (rel="ice-server").
func ParseLinks(values []string) []webrtc.ICEServer {
	var out []webrtc.ICEServer
	for _, v := range values {
		for _, link := range splitLinks(v) {
			s, ok := parseLink(link)
			if ok {
				out = append(out, s)
			}
		}
	}
	return out
}

// splitLinks splits a Link header value at commas outside <> and quotes.
func splitLinks(v string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case c == '<' && !quoted:
			depth++
		case c == '>' && !quoted:
			depth--
		case c == ',' && !quoted && depth == 0:
			out = append(out, v[start:i])
			start = i + 1
		}
	}
	return append(out, v[start:])
}

func parseLink(link string) (webrtc.ICEServer, bool) {
	link = strings.TrimSpace(link)
	end := strings.IndexByte(link, '>')
	if !strings.HasPrefix(link, "<") || end < 0 {
		return webrtc.ICEServer{}, false
	}
	u, err := url.PathUnescape(link[1:end])
	if err != nil {
		return webrtc.ICEServer{}, false
	}
	s := webrtc.ICEServer{URLs: []string{u}}
	ice := false
	for _, p := range strings.Split(link[end+1:], ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(v[1 : len(v)-1])
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "rel":
			ice = v == "ice-server"
		case "username":
			s.Username = v
		case "credential":
			s.Credential = v
		}
	}
	return s, ice
}
