package doctor

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/videochat/videochat/signal/proto"
)

// path is one ICE server URL over one transport, with its credentials.
type path struct {
	url, kind, transport string
	username, credential string
}

// pathsOf expands the welcome's ICE servers into paths: a stun: URL over
// UDP; a turn: URL over the transport it names, or over UDP and TCP when it
// names none; a turns: URL over TLS.
func pathsOf(servers []proto.ICEServer) []path {
	var out []path
	for _, s := range servers {
		for _, u := range s.URLs {
			scheme, rest, _ := strings.Cut(u, ":")
			base, query, _ := strings.Cut(rest, "?")
			p := path{url: u, kind: strings.TrimSuffix(scheme, "s"), username: s.Username, credential: s.Credential}
			switch {
			case scheme == "stun" || scheme == "stuns":
				p.transport = "udp"
				out = append(out, p)
			case scheme == "turns":
				p.transport = "tls"
				out = append(out, p)
			case strings.Contains(query, "transport=tcp"):
				p.transport = "tcp"
				out = append(out, p)
			case strings.Contains(query, "transport=udp"):
				p.transport = "udp"
				out = append(out, p)
			default:
				for _, t := range []string{"udp", "tcp"} {
					q := p
					q.url, q.transport = scheme+":"+base+"?transport="+t, t
					out = append(out, q)
				}
			}
		}
	}
	return out
}

// wantType is the candidate type proving a path works.
func (p path) wantType() string {
	if p.kind == "turn" {
		return "relay"
	}
	return "srflx"
}

// checkPath gathers candidates with a PeerConnection that knows only p's
// server (relay-only for TURN) and reports what it got.
func checkPath(ctx context.Context, cfg Config, p path) PathResult {
	res := PathResult{URL: p.url, Kind: p.kind, Transport: p.transport}
	start := time.Now()
	logs := &logCapture{}
	cands, ended, err := gather(ctx, cfg, p, logs)
	res.ElapsedMS = time.Since(start).Milliseconds()
	if err != nil {
		res.Message = fmt.Sprintf("%s %s: %v", strings.ToUpper(p.kind), p.url, err)
		return res
	}
	want := p.wantType()
	for _, c := range cands {
		typ := c.Typ.String()
		if !slices.Contains(res.Candidates, typ) {
			res.Candidates = append(res.Candidates, typ)
		}
		if typ == want {
			res.Addresses = append(res.Addresses, fmt.Sprintf("%s:%d", c.Address, c.Port))
		}
	}
	slices.Sort(res.Candidates)
	res.OK = len(res.Addresses) > 0
	res.Message = pathMessage(p, res, ended, cfg.Timeout, logs.first())
	return res
}

// pathMessage explains the result of one path for a human.
func pathMessage(p path, res PathResult, ended bool, timeout time.Duration, pionErr string) string {
	label := strings.ToUpper(p.kind) + " " + p.url
	want := p.wantType()
	if res.OK {
		return fmt.Sprintf("%s: %s candidate %s", label, want, strings.Join(res.Addresses, ", "))
	}
	name, hint := "relay", "server unreachable or credentials refused"
	if want == "srflx" {
		name, hint = "server-reflexive", "server unreachable or UDP blocked"
	}
	msg := fmt.Sprintf("%s: no %s candidate within %v (%s)", label, name, timeout, hint)
	if ended {
		msg = fmt.Sprintf("%s: gathering ended after %v without a %s candidate (%s)",
			label, ms(res.ElapsedMS), name, hint)
	}
	if pionErr != "" {
		msg += "; ICE agent said: " + pionErr
	}
	return msg
}

// gather runs ICE gathering for p until it completes or cfg.Timeout passes.
// ended reports whether gathering completed before the timeout.
func gather(ctx context.Context, cfg Config, p path, logs *logCapture) (cands []webrtc.ICECandidate, ended bool, err error) {
	se := webrtc.SettingEngine{}
	if cfg.SettingEngine != nil {
		cfg.SettingEngine(&se)
	}
	se.LoggerFactory = logs
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se))
	conf := webrtc.Configuration{ICEServers: []webrtc.ICEServer{{
		URLs: []string{p.url}, Username: p.username, Credential: p.credential,
	}}}
	if p.kind == "turn" {
		conf.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	pc, err := api.NewPeerConnection(conf)
	if err != nil {
		return nil, false, fmt.Errorf("bad ICE server configuration: %w", err)
	}
	defer func() { _ = pc.Close() }()

	found := make(chan webrtc.ICECandidate, 64)
	done := make(chan struct{})
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			close(done)
			return
		}
		select {
		case found <- *c:
		default:
		}
	})
	if _, err := pc.CreateDataChannel("doctor", nil); err != nil {
		return nil, false, err
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return nil, false, err
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		return nil, false, err
	}
	timer := time.NewTimer(cfg.Timeout)
	defer timer.Stop()
	for {
		select {
		case c := <-found:
			cands = append(cands, c)
			if c.Typ.String() == p.wantType() {
				return cands, false, nil
			}
		case <-done:
			return drain(cands, found), true, nil
		case <-timer.C:
			return drain(cands, found), false, nil
		case <-ctx.Done():
			return drain(cands, found), false, ctx.Err()
		}
	}
}

// drain appends the candidates still queued in found.
func drain(cands []webrtc.ICECandidate, found chan webrtc.ICECandidate) []webrtc.ICECandidate {
	for {
		select {
		case c := <-found:
			cands = append(cands, c)
		default:
			return cands
		}
	}
}
