package whip_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/videochat/videochat/internal/looptest"
	"github.com/videochat/videochat/signal"
	"github.com/videochat/videochat/signal/token"
	"github.com/videochat/videochat/whip"
)

// offerSDP makes a complete offer: sendonly audio and video (publish), or
// recvonly (play), or only a data channel (media false).
func offerSDP(t *testing.T, e *env, dir webrtc.RTPTransceiverDirection, media bool) string {
	t.Helper()
	pc, err := e.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if media {
		for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
			if dir == webrtc.RTPTransceiverDirectionSendonly {
				tr, err := webrtc.NewTrackLocalStaticRTP(map[webrtc.RTPCodecType]webrtc.RTPCodecCapability{
					webrtc.RTPCodecTypeAudio: {MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2},
					webrtc.RTPCodecTypeVideo: {MimeType: webrtc.MimeTypeVP8, ClockRate: 90000},
				}[k], k.String(), "x")
				if err != nil {
					t.Fatal(err)
				}
				_, err = pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: dir})
				if err != nil {
					t.Fatal(err)
				}
			} else if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: dir}); err != nil {
				t.Fatal(err)
			}
		}
	} else if _, err := pc.CreateDataChannel("x", nil); err != nil {
		t.Fatal(err)
	}
	return looptest.Offer(t, pc).SDP
}

type answer struct {
	status int
	body   string
	header http.Header
}

func request(t *testing.T, method, url, ctype, body string, hdr map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, body: string(b), header: resp.Header}
}

func issue(t *testing.T, secret, room, name string, publish bool) string {
	t.Helper()
	tok, err := token.Issue([]byte(secret), token.Claims{Room: room, Name: name, CanPublish: &publish, ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestBadInputAnswers: every documented refusal, with its status and code.
func TestBadInputAnswers(t *testing.T) {
	const secret = "s3cret"
	v, err := token.NewVerifier([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	e := startEnv(t, signal.Config{Tokens: v, MaxPeers: 2}, whip.Config{TokenSecret: []byte(secret), MaxSDP: 16 << 10})
	pubOffer := offerSDP(t, e, webrtc.RTPTransceiverDirectionSendonly, true)
	playOffer := offerSDP(t, e, webrtc.RTPTransceiverDirectionRecvonly, true)
	dataOffer := offerSDP(t, e, 0, false)
	good := "Bearer " + issue(t, secret, "demo", "obs", true)
	auth := map[string]string{"Authorization": good}
	whipURL := e.url + "/whip/demo"

	// A valid session to PATCH and to fill the room.
	pub, err := publish(t, e, whipURL, strings.TrimPrefix(good, "Bearer "))
	if err != nil {
		t.Fatalf("publish with a valid token: %v", err)
	}

	cases := []struct {
		name        string
		method, url string
		ctype, body string
		hdr         map[string]string
		status      int
		code        string
		wantHeader  string
		notCode     bool
	}{
		{name: "token required", method: "POST", url: whipURL, ctype: "application/sdp", body: pubOffer, status: 401, code: "unauthorized", wantHeader: "WWW-Authenticate"},
		{name: "wrong token", method: "POST", url: whipURL, ctype: "application/sdp", body: pubOffer, hdr: map[string]string{"Authorization": "Bearer " + issue(t, "other", "demo", "obs", true)}, status: 401, code: "unauthorized"},
		{name: "token for another room", method: "POST", url: whipURL, ctype: "application/sdp", body: pubOffer, hdr: map[string]string{"Authorization": "Bearer " + issue(t, secret, "elsewhere", "obs", true)}, status: 401, code: "unauthorized"},
		{name: "view-only token publishing", method: "POST", url: whipURL, ctype: "application/sdp", body: pubOffer, hdr: map[string]string{"Authorization": "Bearer " + issue(t, secret, "demo", "v", false)}, status: 403, code: "forbidden"},
		{name: "wrong content type", method: "POST", url: whipURL, ctype: "text/plain", body: pubOffer, hdr: auth, status: 415, code: "unsupported-media-type"},
		{name: "malformed SDP", method: "POST", url: whipURL, ctype: "application/sdp", body: "v=0\r\nthis is not sdp\r\n", hdr: auth, status: 400, code: "bad-sdp"},
		{name: "oversized SDP", method: "POST", url: whipURL, ctype: "application/sdp", body: pubOffer + strings.Repeat("a=x-padding:0123456789\r\n", 2000), hdr: auth, status: 413, code: "too-large"},
		{name: "offer without media", method: "POST", url: whipURL, ctype: "application/sdp", body: dataOffer, hdr: auth, status: 400, code: "no-media"},
		{name: "WHIP offer that sends nothing", method: "POST", url: whipURL, ctype: "application/sdp", body: playOffer, hdr: auth, status: 400, code: "no-media"},
		{name: "GET on the endpoint", method: "GET", url: whipURL, hdr: auth, status: 405, code: "method-not-allowed", wantHeader: "Allow"},
		{name: "DELETE of an unknown session", method: "DELETE", url: whipURL + "/0123456789abcdef0123456789abcdef", hdr: auth, status: 404, code: "not-found"},
		{name: "PATCH with a stale ETag", method: "PATCH", url: pub.sess.Location, ctype: "application/trickle-ice-sdpfrag", body: "a=ice-ufrag:x\r\n", hdr: map[string]string{"Authorization": good, "If-Match": `"stale"`}, status: 412, code: "precondition-failed"},
		{name: "PATCH with other credentials, no restart", method: "PATCH", url: pub.sess.Location, ctype: "application/trickle-ice-sdpfrag", body: "a=ice-ufrag:zzzz\r\na=ice-pwd:zzzzzzzzzzzzzzzzzzzzzzzz\r\n", hdr: auth, status: 409, code: "conflict"},
		{name: "PATCH that is not an sdpfrag", method: "PATCH", url: pub.sess.Location, ctype: "application/trickle-ice-sdpfrag", body: "hello\r\n", hdr: auth, status: 400, code: "bad-sdp"},
		{name: "PATCH with a new offer (renegotiation, e.g. a codec change)", method: "PATCH", url: pub.sess.Location, ctype: "application/sdp", body: pubOffer, hdr: auth, status: 415, code: "renegotiation-unsupported", wantHeader: "Accept-Patch"},
		{name: "PATCH sdpfrag with codec lines", method: "PATCH", url: pub.sess.Location, ctype: "application/trickle-ice-sdpfrag", body: "a=ice-ufrag:x\r\nm=video 9 UDP/TLS/RTP/SAVPF 102\r\na=rtpmap:102 H264/90000\r\n", hdr: auth, status: 400, code: "renegotiation-unsupported"},
		{name: "invalid room", method: "POST", url: e.url + "/whip/bad%20room", ctype: "application/sdp", body: pubOffer, hdr: auth, status: 404, code: "not-found"},
		{name: "WHEP of an absent participant", method: "POST", url: e.url + "/whep/demo/nobody", ctype: "application/sdp", body: playOffer, hdr: auth, status: 404, code: "not-found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := request(t, c.method, c.url, c.ctype, c.body, c.hdr)
			if a.status != c.status || !strings.HasPrefix(a.body, c.code+": ") {
				t.Fatalf("got %d %q, want %d with code %s", a.status, a.body, c.status, c.code)
			}
			if c.wantHeader != "" && a.header.Get(c.wantHeader) == "" {
				t.Errorf("no %s header", c.wantHeader)
			}
			if a.header.Get("Access-Control-Allow-Origin") != "*" {
				t.Errorf("no CORS header on a refusal")
			}
		})
	}

	t.Run("room full", func(t *testing.T) {
		// The room holds obs (WHIP) and, while the WHEP test case ran, the
		// watcher may have been there; fill it with a second publisher.
		waitFor(t, "the watcher to leave", func() bool { return e.h.Sessions() == 1 })
		p2, err := publish(t, e, whipURL, issue(t, secret, "demo", "second", true))
		if err != nil {
			t.Fatalf("second publisher: %v", err)
		}
		defer p2.sess.Close(context.Background())
		a := request(t, "POST", whipURL, "application/sdp", pubOffer, map[string]string{"Authorization": "Bearer " + issue(t, secret, "demo", "third", true)})
		if a.status != 409 || !strings.HasPrefix(a.body, "room-full: ") {
			t.Fatalf("got %d %q, want 409 room-full", a.status, a.body)
		}
	})

	t.Run("OPTIONS", func(t *testing.T) {
		a := request(t, "OPTIONS", whipURL, "", "", map[string]string{"Origin": "https://obs.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type"})
		if a.status != 204 || !strings.Contains(a.header.Get("Access-Control-Allow-Methods"), "POST") ||
			!strings.Contains(a.header.Get("Access-Control-Allow-Headers"), "Authorization") || a.header.Get("Accept-Post") != "application/sdp" {
			t.Fatalf("preflight: %d %v", a.status, a.header)
		}
		a = request(t, "OPTIONS", pub.sess.Location, "", "", nil)
		if a.status != 204 || !strings.Contains(a.header.Get("Allow"), "PATCH") || a.header.Get("Accept-Patch") != "application/trickle-ice-sdpfrag" {
			t.Fatalf("session OPTIONS: %d %v", a.status, a.header)
		}
	})

	t.Run("DELETE twice", func(t *testing.T) {
		a := request(t, "DELETE", pub.sess.Location, "", "", auth)
		if a.status != 200 {
			t.Fatalf("DELETE: %d %q", a.status, a.body)
		}
		waitFor(t, "the session to end", func() bool { return e.h.Sessions() == 0 })
		a = request(t, "DELETE", pub.sess.Location, "", "", auth)
		if a.status != 404 {
			t.Fatalf("second DELETE: %d %q, want 404", a.status, a.body)
		}
	})
}

// TestAbandonedSessionsAreReaped: 100 sessions created and never connected
// nor deleted are reaped after ConnectTimeout; their room seats, goroutines
// and sockets are all released.
func TestAbandonedSessionsAreReaped(t *testing.T) {
	e := startEnv(t, signal.Config{MaxPeers: 1}, whip.Config{ConnectTimeout: 2 * time.Second})
	offer := offerSDP(t, e, webrtc.RTPTransceiverDirectionSendonly, true)
	// Baseline after the server is up and one PeerConnection came and went.
	time.Sleep(200 * time.Millisecond)
	fds0, g0 := openFDs(t), runtime.NumGoroutine()

	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 10)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			a := requestNoT("POST", fmt.Sprintf("%s/whip/r%d?name=ghost", e.url, i), "application/sdp", offer)
			if a.err != nil || a.status != 201 {
				errs <- fmt.Errorf("session %d: %d %v", i, a.status, a.err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := e.h.Sessions(); got == 0 {
		t.Fatalf("no session open right after the POSTs")
	}
	waitFor(t, "every abandoned session to be reaped", func() bool { return e.h.Sessions() == 0 })
	// The seats are free: each room (max 1 peer) admits a new session.
	for i := range 3 {
		a := request(t, "POST", fmt.Sprintf("%s/whip/r%d?name=again", e.url, i), "application/sdp", offer, nil)
		if a.status != 201 {
			t.Fatalf("room r%d after reaping: %d %q", i, a.status, a.body)
		}
		request(t, "DELETE", e.url+a.header.Get("Location"), "", "", nil)
	}
	waitFor(t, "sockets and goroutines back to the baseline", func() bool {
		return e.h.Sessions() == 0 && openFDs(t) <= fds0+4 && runtime.NumGoroutine() <= g0+10
	})
	t.Logf("fds %d→%d, goroutines %d→%d", fds0, openFDs(t), g0, runtime.NumGoroutine())
}

type rawAnswer struct {
	status int
	err    error
}

func requestNoT(method, url, ctype, body string) rawAnswer {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return rawAnswer{err: err}
	}
	req.Header.Set("Content-Type", ctype)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return rawAnswer{err: err}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return rawAnswer{status: resp.StatusCode}
}

func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
