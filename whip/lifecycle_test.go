package whip_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/videochat/videochat/internal/looptest"
	"github.com/videochat/videochat/peer"

	"github.com/videochat/videochat/signal"
	"github.com/videochat/videochat/signal/proto"
	"github.com/videochat/videochat/signal/token"
	"github.com/videochat/videochat/whip"
)

// TestVanishedPublisherIsReaped: a connected publisher that disappears
// without DELETE (its ICE goes disconnected, then silent) is reaped and its
// participant leaves the room.
func TestVanishedPublisherIsReaped(t *testing.T) {
	e := startEnv(t, signal.Config{}, whip.Config{DisconnectTimeout: time.Second})
	bob := startRoomPeer(t, e, "demo", "bob", nil, nil)
	// The publisher vanishes without a DTLS close or a DELETE, as a crashed
	// or unplugged encoder does.
	pubEnv, hole := behindBlackHole(t, e, nil)
	pub, err := publish(t, pubEnv, e.url+"/whip/demo?name=ghost", "")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "media from ghost", func() bool {
		ps, ok := bob.statsOf("ghost")
		return ok && ps.Video.FramesReceived >= 10
	})
	hole.on.Store(true)
	_ = pub
	start := time.Now()
	waitFor(t, "ghost to be reaped", func() bool {
		_, ok := bob.statsOf("ghost")
		return !ok && e.h.Sessions() == 0
	})
	t.Logf("reaped %v after the publisher vanished", time.Since(start).Round(100*time.Millisecond))
}

// TestWHEPWithTokens: on a server with room tokens a WHEP player with a
// view-only token plays a participant; the shared watcher joined with the
// server's own token.
func TestWHEPWithTokens(t *testing.T) {
	const secret = "s3cret"
	v, err := token.NewVerifier([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	e := startEnv(t, signal.Config{Tokens: v}, whip.Config{TokenSecret: []byte(secret)})
	const name = "Zoë's cam/2" // the Location must escape it
	pub, err := publish(t, e, e.url+"/whip/demo", issue(t, secret, "demo", name, true))
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	pl, err := play(t, e, e.url+"/whep/demo/"+url.PathEscape(name), issue(t, secret, "demo", "viewer", false))
	if err != nil {
		t.Fatalf("play: %v", err)
	}
	waitFor(t, "the player to receive cam", func() bool { return pl.video.Load() >= 30 && pl.audio.Load() >= 10 })
	if err := pl.sess.Close(context.Background()); err != nil {
		t.Fatalf("DELETE %s: %v", pl.sess.Location, err)
	}
	waitFor(t, "the WHEP session to end", func() bool { return e.h.Sessions() == 1 })
	_ = pub.sess.Close(context.Background())
	waitFor(t, "sessions to end", func() bool { return e.h.Sessions() == 0 })
}

// TestLinkHeaders: the ICE servers (with TURN credentials) go out in Link
// headers on the 201 and on OPTIONS, and the client reads them back.
func TestLinkHeaders(t *testing.T) {
	e := startEnv(t, signal.Config{}, whip.Config{ICEServers: func(user string) []proto.ICEServer {
		return []proto.ICEServer{
			{URLs: []string{"stun:stun.example.net:3478"}},
			{URLs: []string{"turn:turn.example.net:3478?transport=udp", "turn:turn.example.net:3478?transport=tcp"}, Username: "1700000000:" + user, Credential: `c"red\`},
		}
	}})
	bob := startRoomPeer(t, e, "demo", "bob", nil, nil)
	_ = bob
	pub, err := publish(t, e, e.url+"/whip/demo?name=obs", "")
	if err != nil {
		t.Fatal(err)
	}
	got := pub.sess.ICEServers
	if len(got) != 3 || got[0].URLs[0] != "stun:stun.example.net:3478" || got[0].Username != "" ||
		got[2].URLs[0] != "turn:turn.example.net:3478?transport=tcp" || !strings.HasPrefix(got[2].Username, "1700000000:whip-") ||
		got[2].Credential != `c"red\` {
		t.Fatalf("ICE servers from Link headers: %+v", got)
	}
	a := request(t, "OPTIONS", e.url+"/whip/demo", "", "", nil)
	if links := a.header.Values("Link"); len(links) != 3 || !strings.Contains(links[1], `rel="ice-server"`) || !strings.Contains(links[1], `credential-type="password"`) {
		t.Fatalf("OPTIONS Link headers: %q", links)
	}
	a = request(t, "OPTIONS", e.url+"/whip/demo", "", "", map[string]string{"Access-Control-Request-Method": "POST", "Origin": "https://x.example"})
	if links := a.header.Values("Link"); len(links) != 0 {
		t.Fatalf("a CORS preflight got Link headers (credentials): %q", links)
	}
	_ = pub.sess.Close(context.Background())
}

// behindBlackHole returns a copy of e whose API sends all its ICE traffic
// through one UDP socket wrapped in a blackHole, which the test switches on
// to cut the peer off. tune, if not nil, adjusts the setting engine further.
func behindBlackHole(t *testing.T, e *env, tune func(*webrtc.SettingEngine)) (*env, *blackHole) {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	hole := &blackHole{PacketConn: conn}
	mux := ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: hole})
	t.Cleanup(func() { _ = mux.Close() })
	se := webrtc.SettingEngine{}
	looptest.Restrict(&se)
	se.SetICEUDPMux(mux)
	if tune != nil {
		tune(&se)
	}
	cut := *e
	cut.api = looptest.NewAPI(t, nil, se)
	return &cut, hole
}

// blackHole is a PacketConn that, once on, neither sends nor delivers.
type blackHole struct {
	net.PacketConn
	on atomic.Bool
}

func (b *blackHole) WriteTo(p []byte, addr net.Addr) (int, error) {
	if b.on.Load() {
		return len(p), nil
	}
	return b.PacketConn.WriteTo(p, addr)
}

func (b *blackHole) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := b.PacketConn.ReadFrom(p)
		if err != nil || !b.on.Load() {
			return n, addr, err
		}
	}
}

// TestWHEPEndsWhenParticipantLeaves: a WHEP session ends when the
// participant it plays leaves the room, and the watcher leaves too.
func TestWHEPEndsWhenParticipantLeaves(t *testing.T) {
	e := startEnv(t, signal.Config{}, whip.Config{DisconnectTimeout: time.Second})
	alice := startRoomPeer(t, e, "demo", "alice", newSynth(t, "alice").Tracks(), nil)
	bob := startRoomPeer(t, e, "demo", "bob", nil, nil)
	pl, err := play(t, e, e.url+"/whep/demo/alice", "")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "media", func() bool { return pl.video.Load() >= 10 })
	alice.cancel()
	<-alice.done
	alice.done <- nil // for the cleanup's receive
	waitFor(t, "the WHEP session and its watcher to end", func() bool {
		_, ok := bob.statsOf(whip.WatcherName)
		return e.h.Sessions() == 0 && !ok
	})
}

// TestWHIPH264Publisher: an OBS-like publisher offering only H.264
// (constrained baseline, packetization-mode 1) and Opus reaches a room
// receiver as H.264, untranscoded.
func TestWHIPH264Publisher(t *testing.T) {
	e := startEnv(t, signal.Config{}, whip.Config{})
	codecs := make(chan string, 4)
	bob := startRoomPeer(t, e, "demo", "bob", nil, func(rt peer.RemoteTrack) peer.TrackSink {
		codecs <- rt.Codec.MimeType
		return &keySink{}
	})
	pc, err := e.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	v, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, "video", "obs")
	if err != nil {
		t.Fatal(err)
	}
	a := newSynth(t, "obs").Audio
	for _, tr := range []webrtc.TrackLocal{v, a} {
		tc, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			t.Fatal(err)
		}
		if tr == v { // offer H.264 only, as OBS does
			if err := tc.SetCodecPreferences([]webrtc.RTPCodecParameters{{RTPCodecCapability: v.Codec(), PayloadType: 102}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // one IDR-shaped NAL unit per frame, 30 fps
		defer close(done)
		tick := time.NewTicker(33 * time.Millisecond)
		defer tick.Stop()
		nal := append([]byte{0, 0, 0, 1, 0x65}, make([]byte, 800)...)
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				_ = v.WriteSample(media.Sample{Data: nal, Duration: 33 * time.Millisecond})
			}
		}
	}()
	defer func() { close(stop); <-done }()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	sess, err := whip.Dial(ctx, nil, e.url+"/whip/demo?name=obs", "", pc)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	defer sess.Close(context.Background())
	waitFor(t, "bob to receive obs's H.264 frames", func() bool {
		ps, ok := bob.statsOf("obs")
		return ok && ps.Video.FramesReceived >= 30 && ps.Audio.PacketsReceived >= 10
	})
	got := map[string]bool{}
	for len(got) < 2 {
		got[strings.ToLower(<-codecs)] = true
	}
	if !got["video/h264"] || !got["audio/opus"] {
		t.Fatalf("bob received %v, want video/h264 and audio/opus", got)
	}
}

// TestWHEPPlayerWithoutTheCodec: a player that cannot take the
// participant's video codec gets 400 no-codec, not a silent session.
func TestWHEPPlayerWithoutTheCodec(t *testing.T) {
	e := startEnv(t, signal.Config{}, whip.Config{})
	startRoomPeer(t, e, "demo", "alice", newSynth(t, "alice").Tracks(), nil) // VP8 + Opus
	pc, err := e.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	tc, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
	if err != nil {
		t.Fatal(err)
	}
	h264 := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, PayloadType: 102}
	if err := tc.SetCodecPreferences([]webrtc.RTPCodecParameters{h264}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	_, err = whip.Dial(ctx, nil, e.url+"/whep/demo/alice", "", pc)
	var se *whip.StatusError
	if !errors.As(err, &se) || se.Status != 400 || !strings.HasPrefix(se.Body, "no-codec: ") {
		t.Fatalf("got %v, want 400 no-codec", err)
	}
	waitFor(t, "no session and no watcher left", func() bool { return e.h.Sessions() == 0 })
}

// TestTrickleThroughPATCH: a client that POSTs its offer before gathering
// trickles its candidates with PATCH (If-Match: the ETag), one request
// each; every one gets 204, and the session carries media.
func TestTrickleThroughPATCH(t *testing.T) {
	e := startEnv(t, signal.Config{}, whip.Config{})
	bob := startRoomPeer(t, e, "demo", "bob", nil, nil)
	pc, err := e.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for _, tr := range newSynth(t, "tr").Tracks() {
		if _, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
	}
	cands := make(chan string, 64)
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			close(cands)
			return
		}
		cands <- c.ToJSON().Candidate
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	a := request(t, "POST", e.url+"/whip/demo?name=trickler", "application/sdp", offer.SDP, nil) // no candidates yet
	if a.status != 201 {
		t.Fatalf("POST: %d %s", a.status, a.body)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: a.body}); err != nil {
		t.Fatal(err)
	}
	loc, etag := e.url+a.header.Get("Location"), a.header.Get("ETag")
	ufrag, pwd := "", ""
	for line := range strings.Lines(offer.SDP) {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "a=ice-ufrag:"); ok {
			ufrag = v
		}
		if v, ok := strings.CutPrefix(line, "a=ice-pwd:"); ok {
			pwd = v
		}
	}
	n := 0
	for c := range cands {
		frag := "a=ice-ufrag:" + ufrag + "\r\na=ice-pwd:" + pwd + "\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=" + c + "\r\n"
		p := request(t, "PATCH", loc, "application/trickle-ice-sdpfrag", frag, map[string]string{"If-Match": etag})
		if p.status != 204 {
			t.Fatalf("PATCH %q: %d %s", c, p.status, p.body)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no candidate was trickled")
	}
	// A bracketed IPv6 address, as @eyevinn/whip-web-client writes them.
	v6 := request(t, "PATCH", loc, "application/trickle-ice-sdpfrag", "a=ice-ufrag:"+ufrag+"\r\na=ice-pwd:"+pwd+"\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=candidate:167538940 1 udp 2122134271 [fd00::2] 36600 typ host\r\n", map[string]string{"If-Match": etag})
	if v6.status != 204 {
		t.Fatalf("PATCH with a bracketed IPv6 candidate: %d %s", v6.status, v6.body)
	}
	end := request(t, "PATCH", loc, "application/trickle-ice-sdpfrag", "a=ice-ufrag:"+ufrag+"\r\na=ice-pwd:"+pwd+"\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=end-of-candidates\r\n", map[string]string{"If-Match": etag})
	if end.status != 204 {
		t.Fatalf("end-of-candidates: %d %s", end.status, end.body)
	}
	waitFor(t, "media from the trickling publisher", func() bool {
		ps, ok := bob.statsOf("trickler")
		return ok && ps.Video.FramesReceived >= 30
	})
	t.Logf("%d candidates trickled", n)
	request(t, "DELETE", loc, "", "", nil)
}

// TestClientRestartsICE: when the publisher's network drops long enough for
// its ICE to fail, ClientSession.KeepConnected restarts ICE through PATCH
// and media flows again in the same session.
func TestClientRestartsICE(t *testing.T) {
	e := startEnv(t, signal.Config{}, whip.Config{DisconnectTimeout: time.Minute})
	bob := startRoomPeer(t, e, "demo", "bob", nil, nil)
	pubEnv, hole := behindBlackHole(t, e, func(se *webrtc.SettingEngine) {
		se.SetICETimeouts(time.Second, 2*time.Second, 200*time.Millisecond)
	})
	pub, err := publish(t, pubEnv, e.url+"/whip/demo?name=mobile", "")
	if err != nil {
		t.Fatal(err)
	}
	frames := func() uint64 { ps, _ := bob.statsOf("mobile"); return ps.Video.FramesReceived }
	waitFor(t, "media", func() bool { return frames() >= 10 })
	ctx, cancel := context.WithCancel(context.Background())
	kept := make(chan error, 1)
	go func() { kept <- pub.sess.KeepConnected(ctx, 500*time.Millisecond) }()
	defer func() { cancel(); <-kept }()
	etag := pub.sess.ETag
	hole.on.Store(true)
	waitFor(t, "the publisher's ICE to fail", func() bool { return pub.pc.ICEConnectionState() == webrtc.ICEConnectionStateFailed })
	hole.on.Store(false)
	before := frames()
	waitFor(t, "media after the ICE restart", func() bool { return frames() >= before+30 })
	if pub.sess.ETag == etag || e.h.Sessions() != 1 {
		t.Errorf("ETag %q (before %q), %d sessions: want a restarted, still open session", pub.sess.ETag, etag, e.h.Sessions())
	}
}
