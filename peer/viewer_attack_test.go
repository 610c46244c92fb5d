package peer_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/videochat/videochat/internal/looptest"
	"github.com/videochat/videochat/signal"
	"github.com/videochat/videochat/signal/proto"
	"github.com/videochat/videochat/signal/token"
)

// TestViewerCannotSendMedia: a modified native peer holding a viewer token
// (can_publish false) tries to get video to a real native publisher by
// negotiating a sending video section the server does not see as one.
// Each form below is refused with forbidden; pub never receives a frame.
// The forms: the video section with port 0 and a=bundle-only (RFC 9143:
// live, and pion and Chromium treat it so), with port 0 and still in the
// BUNDLE group, or with port 0 and out of the group (rejected by RFC 9143,
// yet pion v4.2.26 receives on it), each in an answer to pub's offer and
// in an offer of its own. Before the fix the answers got video to pub,
// and pub answered the offers.
func TestViewerCannotSendMedia(t *testing.T) {
	for _, form := range []string{"bundle-only", "port 0 in the BUNDLE group", "port 0 outside the BUNDLE group"} {
		t.Run("answer, "+form, func(t *testing.T) {
			st := startStage(t)
			pub := st.publisher(t)
			pubID := waitWelcome(t, pub)
			m := st.attacker(t)
			offer := m.next(proto.TypeOffer)
			m.setRemote(webrtc.SDPTypeOffer, offer.SDP)
			m.addVideo(t)
			sdp := m.local(t, func() (webrtc.SessionDescription, error) { return m.pc.CreateAnswer(nil) })
			m.send(proto.TypeAnswer, pubID, munge(sdp, "video", form))
			m.expectRefused(pub, proto.TypeAnswer)
		})
		t.Run("offer, "+form, func(t *testing.T) {
			st := startStage(t)
			m := st.attacker(t)
			pub := st.publisher(t)
			pubID := waitWelcome(t, pub)
			m.next(proto.TypePeerJoined)
			// An honest first section, so that the live one is the
			// second, as in an RFC 9143 offer.
			if _, err := m.pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio,
				webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
				t.Fatal(err)
			}
			m.addVideo(t)
			sdp := m.local(t, func() (webrtc.SessionDescription, error) { return m.pc.CreateOffer(nil) })
			m.send(proto.TypeOffer, pubID, munge(sdp, "video", form))
			m.expectRefused(pub, proto.TypeOffer)
		})
	}
}

// stage is a server that requires room tokens, for one room.
type stage struct {
	server string
	secret []byte
}

func startStage(t *testing.T) *stage {
	secret := []byte("viewer attack test secret")
	v, err := token.NewVerifier(secret)
	if err != nil {
		t.Fatal(err)
	}
	return &stage{server: startServerWith(t, signal.Config{Tokens: v}), secret: secret}
}

func (s *stage) token(t *testing.T, name string, canPublish *bool) string {
	tok, err := token.Issue(s.secret, token.Claims{Room: "stage", Name: name, CanPublish: canPublish, ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// publisher starts a real native peer that publishes.
func (s *stage) publisher(t *testing.T) *runner {
	return startPeer(t, s.server, "stage", "pub", peerOpts{tracks: newSynthSource(t, "pub").Tracks(), token: s.token(t, "pub", nil)})
}

// attacker is a modified native peer: a raw pion PeerConnection and a
// WebSocket client that speaks the protocol by hand, so that it can send
// SDP that no honest client sends. Its token is a viewer's.
type attacker struct {
	t      *testing.T
	ws     *websocket.Conn
	pc     *webrtc.PeerConnection
	id     string
	frames chan proto.Message // from the server; closed when the connection ends
}

func (s *stage) attacker(t *testing.T) *attacker {
	no := false
	u := "ws" + strings.TrimPrefix(s.server, "http") + "/ws/stage"
	ws, resp, err := websocket.DefaultDialer.Dial(u, http.Header{})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	resp.Body.Close()
	pc, err := looptest.API(t, nil).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	m := &attacker{t: t, ws: ws, pc: pc, frames: make(chan proto.Message, 64)}
	done := make(chan struct{})
	t.Cleanup(func() {
		_ = pc.Close()
		_ = ws.Close()
		<-done
	})
	go func() {
		defer close(done)
		defer close(m.frames)
		for {
			var msg proto.Message
			if err := ws.ReadJSON(&msg); err != nil {
				return
			}
			m.frames <- msg
		}
	}()
	m.write(proto.Message{Type: proto.TypeJoin, Version: proto.Version, Token: s.token(t, "mallory", &no)})
	w := m.next(proto.TypeWelcome)
	if w.CanPublish == nil || *w.CanPublish {
		t.Fatalf("welcome %+v, want canPublish false", w)
	}
	m.id = w.ID
	return m
}

func (m *attacker) write(msg proto.Message) {
	m.t.Helper()
	b, err := json.Marshal(msg)
	if err != nil {
		m.t.Fatal(err)
	}
	if err := m.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		m.t.Fatalf("write: %v", err)
	}
}

func (m *attacker) send(typ, to, sdp string) {
	m.t.Helper()
	m.write(proto.Message{Type: typ, To: to, SDP: sdp})
}

// next returns the next frame of type typ; candidates before it are
// dropped (the attacker's descriptions carry its own), anything else
// fails the test.
func (m *attacker) next(typ string) proto.Message {
	m.t.Helper()
	timeout := time.After(waitTimeout)
	for {
		select {
		case msg, ok := <-m.frames:
			switch {
			case !ok:
				m.t.Fatalf("connection ended waiting for %s", typ)
			case msg.Type == typ:
				return msg
			case msg.Type == proto.TypeCandidate:
			default:
				m.t.Fatalf("got %+v waiting for %s", msg, typ)
			}
		case <-timeout:
			m.t.Fatalf("no %s within %v", typ, waitTimeout)
		}
	}
}

func (m *attacker) setRemote(typ webrtc.SDPType, sdp string) {
	m.t.Helper()
	if err := m.pc.SetRemoteDescription(webrtc.SessionDescription{Type: typ, SDP: sdp}); err != nil {
		m.t.Fatalf("set remote %s: %v", typ, err)
	}
}

// addVideo adds a video track the attacker sends frames on all along.
func (m *attacker) addVideo(t *testing.T) {
	if _, err := m.pc.AddTrack(newSynthSource(t, "mallory").Video); err != nil {
		t.Fatal(err)
	}
}

// local creates an offer or answer with create, applies it and returns it
// with every candidate in it (no trickle).
func (m *attacker) local(t *testing.T, create func() (webrtc.SessionDescription, error)) string {
	d, err := create()
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(m.pc)
	if err := m.pc.SetLocalDescription(d); err != nil {
		t.Fatal(err)
	}
	<-gathered
	return m.pc.LocalDescription().SDP
}

func (m *attacker) addCandidate(c proto.Message) {
	if c.Candidate == nil || c.Candidate.Candidate == "" {
		return
	}
	_ = m.pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: c.Candidate.Candidate,
		SDPMid: c.Candidate.SDPMid, SDPMLineIndex: c.Candidate.SDPMLineIndex})
}

// expectRefused waits for the server's forbidden answer to the attacker's
// message of type typ. If pub receives video from the attacker meanwhile,
// the server let the negotiation through and the test fails.
func (m *attacker) expectRefused(pub *runner, typ string) {
	m.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		if ps, _ := peerStats(pub, m.id); ps.Video.BytesReceived > 0 {
			m.t.Fatalf("the viewer's video reached pub: %+v", ps.Video)
		}
		select {
		case msg, ok := <-m.frames:
			switch {
			case !ok:
				m.t.Fatal("connection ended")
			case msg.Type == proto.TypeError && msg.Code == proto.CodeForbidden && msg.Ref == typ:
				if ps, _ := peerStats(pub, m.id); ps.Video.BytesReceived > 0 {
					m.t.Fatalf("the viewer's video reached pub: %+v", ps.Video)
				}
				return
			case msg.Type == proto.TypeCandidate:
				m.addCandidate(msg)
			case msg.Type == proto.TypeAnswer && typ == proto.TypeOffer:
				m.t.Fatalf("the server relayed the viewer's offer: pub answered it")
			default:
				m.t.Fatalf("got %+v, want error forbidden for the %s", msg, typ)
			}
		case <-time.After(50 * time.Millisecond):
		}
	}
	m.t.Fatalf("no forbidden for the %s within %v", typ, waitTimeout)
}

// munge rewrites the m=kind section of sdp as an attacker would:
// "bundle-only" sets its port to 0 and marks it a=bundle-only; "port 0 in
// the BUNDLE group" sets its port to 0 only; "port 0 outside the BUNDLE
// group" also takes its mid out of the group (a rejected section, by RFC
// 9143, that pion still receives on).
func munge(sdp, kind, form string) string {
	lines := strings.Split(sdp, "\r\n")
	var out []string
	in := false
	mid := ""
	for _, l := range lines {
		if in && strings.HasPrefix(l, "a=mid:") {
			mid = strings.TrimPrefix(l, "a=mid:")
		}
		if strings.HasPrefix(l, "m=") {
			in = strings.HasPrefix(l, "m="+kind+" ")
			if in {
				f := strings.Fields(l)
				f[1] = "0"
				l = strings.Join(f, " ")
				out = append(out, l)
				if form == "bundle-only" {
					out = append(out, "a=bundle-only")
				}
				continue
			}
		}
		out = append(out, l)
	}
	sdp = strings.Join(out, "\r\n")
	if form == "port 0 outside the BUNDLE group" {
		sdp = withoutBundled(sdp, mid)
	}
	return sdp
}

// withoutBundled takes mid out of sdp's BUNDLE group.
func withoutBundled(sdp, mid string) string {
	lines := strings.Split(sdp, "\r\n")
	for i, l := range lines {
		if f := strings.Fields(l); len(f) > 0 && f[0] == "a=group:BUNDLE" {
			lines[i] = strings.Join(slices.DeleteFunc(f, func(s string) bool { return s == mid }), " ")
		}
	}
	return strings.Join(lines, "\r\n")
}
