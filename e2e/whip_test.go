package e2e

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/videochat/videochat/internal/looptest"
	"github.com/videochat/videochat/peer"
)

// TestJoinWHIPAndWHEP: `join --whip` publishes test sources into a room of
// `serve --whip --whep`; a native room participant's --expect counts it,
// `join --whep` plays it back with --expect and --record, and the
// publisher's congestion control follows the endpoint's feedback.
func TestJoinWHIPAndWHEP(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, url := startServer(ctx, t, "--whip", "--whep")
	net := []string{"--ice-interface", "lo", "--mdns=false"}
	pub := start(t, append([]string{"join", "--whip", url + "/whip/ingest?name=obs", "--video", "test", "--audio", "test", "--stats-json", "-"}, net...)...)
	room := start(t, joinArgs(url, "ingest", "viewer", "--video", "none", "--audio", "none", "--expect", "1", "--duration", "10s")...)
	if code := room.wait(ctx); code != 0 {
		t.Fatalf("room participant: exit %d, want 0 (it must receive the WHIP publisher)\n%s\npublisher:\n%s", code, room.output(), pub.output())
	}
	if m := get(t, url+"/metrics"); !strings.Contains(m, `videochat_whip_sessions{kind="whip"} 1`) {
		t.Errorf("/metrics does not count the WHIP session:\n%s", grepLines(m, "whip"))
	}
	rec := t.TempDir()
	play := start(t, append([]string{"join", "--whep", url + "/whep/ingest/obs", "--expect", "1", "--duration", "8s", "--record", rec}, net...)...)
	if code := play.wait(ctx); code != 0 {
		t.Fatalf("WHEP player: exit %d, want 0\n%s\npublisher:\n%s", code, play.output(), pub.output())
	}
	for _, f := range []string{"whep-ingest-obs.ivf", "whep-ingest-obs.ogg"} {
		st, err := os.Stat(filepath.Join(rec, f))
		if err != nil || st.Size() < 1000 {
			t.Errorf("recording %s: %v (size %v)", f, err, st)
		}
	}
	// The publisher runs a room's congestion control (peer.Links): its
	// link estimate leaves gcc's start only on the endpoint's feedback.
	est := regexp.MustCompile(`"estimate_bitrate":([0-9]+)`)
	for {
		if m := pub.waitLine(ctx, est); m[1] != "0" && m[1] != "600000" {
			break
		}
	}
	pub.stop(10 * time.Second)
}

// TestWHIPOneUDPPort: with --whip-udp-port every candidate of the server's
// answer is on that port, --whip-public-ip is what it announces, and a
// publisher still gets through (join --whip, counted by a room member).
func TestWHIPOneUDPPort(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	_ = pc.Close()
	_, url := startServer(ctx, t, "--whip", "--whip-udp-port", strconv.Itoa(port))
	offer := pionOffer(t)
	a := postSDP(t, url+"/whip/oneport?name=probe", offer)
	if a.status != 201 {
		t.Fatalf("POST: %d %s", a.status, a.body)
	}
	cands := 0
	for line := range strings.Lines(a.body) {
		if f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "a=candidate:")); strings.HasPrefix(line, "a=candidate:") && len(f) > 5 {
			cands++
			if f[5] != strconv.Itoa(port) {
				t.Errorf("candidate on port %s, want %d: %s", f[5], port, line)
			}
		}
	}
	if cands == 0 {
		t.Fatalf("the answer has no candidates:\n%s", a.body)
	}
	del := postSDPMethod(t, "DELETE", url+a.location, "")
	if del.status != 200 {
		t.Fatalf("DELETE: %d %s", del.status, del.body)
	}
	pub := start(t, "join", "--whip", url+"/whip/oneport?name=obs", "--video", "test", "--audio", "test", "--ice-interface", "lo", "--mdns=false")
	room := start(t, joinArgs(url, "oneport", "viewer", "--video", "none", "--audio", "none", "--expect", "1", "--duration", "8s")...)
	if code := room.wait(ctx); code != 0 {
		t.Fatalf("room participant: exit %d\n%s\npublisher:\n%s", code, room.output(), pub.output())
	}
	pub.stop(10 * time.Second)

	_, url2 := startServer(ctx, t, "--whip", "--whip-public-ip", "192.0.2.7")
	a = postSDP(t, url2+"/whip/nat?name=probe", offer)
	if a.status != 201 || !strings.Contains(a.body, " 192.0.2.7 ") {
		t.Fatalf("--whip-public-ip: %d, answer without 192.0.2.7:\n%s", a.status, a.body)
	}
}

type httpAnswer struct {
	status   int
	body     string
	location string
}

func postSDP(t *testing.T, url, sdp string) httpAnswer {
	t.Helper()
	return postSDPMethod(t, "POST", url, sdp)
}

func postSDPMethod(t *testing.T, method, url, sdp string) httpAnswer {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(sdp))
	if err != nil {
		t.Fatal(err)
	}
	if sdp != "" {
		req.Header.Set("Content-Type", "application/sdp")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return httpAnswer{status: resp.StatusCode, body: string(b), location: resp.Header.Get("Location")}
}

// pionOffer is a complete sendonly audio+video offer from a loopback pion
// PeerConnection (closed at once: nobody will answer its checks).
func pionOffer(t *testing.T) string {
	t.Helper()
	pc, err := looptest.API(t, nil).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for _, c := range []webrtc.RTPCodecCapability{{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, {MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}} {
		kind := "audio"
		if c.MimeType == webrtc.MimeTypeVP8 {
			kind = "video"
		}
		tr, err := webrtc.NewTrackLocalStaticRTP(c, kind, "probe")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
	}
	return looptest.Offer(t, pc).SDP
}

// TestWHIPServeWiring: serve hands --token-secret and the embedded TURN
// server to the WHIP endpoint: Link headers carry the TURN server with
// short-lived credentials, a request without a token gets 401, and
// `join --whip --token` publishes under the token's name.
func TestWHIPServeWiring(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const secret = "wiring-secret"
	_, url := startServer(ctx, t, "--whip", "--token-secret", secret, "--turn", "--turn-listen", "127.0.0.1:0", "--turn-allow-private")
	req, _ := http.NewRequestWithContext(ctx, "OPTIONS", url+"/whip/wired", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	links := strings.Join(resp.Header.Values("Link"), ", ")
	if !strings.Contains(links, "<turn:127.0.0.1:") || !strings.Contains(links, `username="`) || !strings.Contains(links, `credential="`) {
		t.Fatalf("OPTIONS Link headers without the embedded TURN server and credentials: %q", links)
	}
	if a := postSDP(t, url+"/whip/wired", pionOffer(t)); a.status != 401 {
		t.Fatalf("POST without a token: %d %s, want 401", a.status, a.body)
	}
	tok := start(t, "token", "--token-secret", secret, "--room", "wired", "--name", "OBS")
	line := tok.waitLine(ctx, regexp.MustCompile(`^\S+\.\S+\.\S+$`))
	// --relay-only: the publisher can only reach the server through the TURN
	// relay it learnt from the endpoint's Link headers.
	pub := start(t, "join", "--whip", url+"/whip/wired", "--token", line[0], "--relay-only", "--video", "test", "--audio", "test", "--ice-interface", "lo", "--mdns=false")
	viewer := start(t, "token", "--token-secret", secret, "--room", "wired", "--name", "viewer", "--can-publish=false")
	vtok := viewer.waitLine(ctx, regexp.MustCompile(`^\S+\.\S+\.\S+$`))
	stats := filepath.Join(t.TempDir(), "stats.jsonl")
	room := start(t, joinArgs(url, "wired", "viewer", "--token", vtok[0], "--video", "none", "--audio", "none", "--expect", "1", "--duration", "10s", "--stats-json", stats)...)
	if code := room.wait(ctx); code != 0 {
		t.Fatalf("room participant: exit %d\n%s\npublisher:\n%s", code, room.output(), pub.output())
	}
	if s, err := peer.LastSnapshot(stats); err != nil || len(s.Peers) != 1 || s.Peers[0].Name != "OBS" {
		t.Fatalf("the publisher is not in the room under the token's name: %+v %v", s, err)
	}
	pub.stop(10 * time.Second)
}
