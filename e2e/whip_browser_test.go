package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/browsertest"
)

// whipClients returns the bundle of the third-party WHIP/WHEP browser
// clients (scripts/whipjs.sh), building it when missing. Without npm the
// test fails under CI=true and is skipped otherwise.
func whipClients(t *testing.T) string {
	t.Helper()
	bundle, err := filepath.Abs(filepath.Join("whipjs", "dist", "clients.js"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bundle); err == nil {
		return bundle
	}
	if _, err := exec.LookPath("npm"); err != nil {
		msg := "npm not found: the third-party WHIP/WHEP client tests did NOT run (scripts/deps.sh test installs it)"
		if ci() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	cmd := exec.Command("bash", filepath.Join("..", "scripts", "whipjs.sh"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/whipjs.sh: %v\n%s", err, out)
	}
	return bundle
}

// clientPages serves the bundle and a bare page from another origin than
// the videochat server, so the clients' requests are cross-origin (CORS).
func clientPages(t *testing.T, bundle string) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/clients.js", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, bundle) })
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>client</title><video autoplay muted playsinline width=640 height=480></video><script src="/clients.js"></script>`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestThirdPartyWHIPAndWHEPClients: @eyevinn/whip-web-client in Chromium
// publishes its fake camera and microphone into a room through /whip; a
// native participant's --expect counts it, and a normal room page shows
// its live video and receives its audio. Then medooze's WHEP client (npm
// whip-whep) in another Chromium plays that room page's participant
// through /whep, with live video.
func TestThirdPartyWHIPAndWHEPClients(t *testing.T) {
	browsertest.Require(t)
	bundle := whipClients(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	_, url := startServer(ctx, t, "--whip", "--whep")
	pages := clientPages(t, bundle)

	// 1. The Eyevinn WHIP client publishes as "eyevinn".
	pub := browsertest.Launch(t, browsertest.Options{Name: "eyevinn-whip"})
	pub.Navigate(pages + "/publish")
	endpoint := url + "/whip/thirdparty?name=eyevinn"
	browsertest.Eval[bool](pub, fmt.Sprintf(`(async () => {
		const stream = await navigator.mediaDevices.getUserMedia({video: {width: 640, height: 480}, audio: true});
		document.querySelector('video').srcObject = stream;
		const client = new EyevinnWHIPClient({endpoint: %s, opts: {debug: true, iceServers: []}});
		window.whip = client;
		await client.ingest(stream);
		return true;
	})()`, strconv.Quote(endpoint)))
	pub.WaitFor("the WHIP client's ICE to connect", `window.whip.peer && ['connected', 'completed'].includes(window.whip.peer.iceConnectionState)`, time.Minute)

	// 2. A native participant counts it.
	robot := start(t, joinArgs(url, "thirdparty", "robot", "--video", "none", "--audio", "none", "--expect", "1", "--duration", "10s")...)
	if code := robot.wait(ctx); code != 0 {
		t.Fatalf("native participant: exit %d, want 0 (eyevinn's video and audio)\n%s", code, robot.output())
	}

	// 3. A normal room page sees its live video and receives its audio.
	alice := browsertest.Launch(t, browsertest.Options{Name: "alice"})
	alice.Navigate(url + "/room/thirdparty?name=alice")
	sel, id := tileOf(alice, "eyevinn")
	alice.WaitFramesDecoded(id, 30)
	t.Logf("alice sees eyevinn: luma stddev %.1f", alice.WaitNonBlack(sel))
	alice.WaitFor("audio energy from eyevinn", fmt.Sprintf(`window.videochat.peers().get(%s).getStats().then((s) => {
		let e = 0, n = 0;
		s.forEach((r) => { if (r.type === 'inbound-rtp' && r.kind === 'audio') { e += r.totalAudioEnergy || 0; n += r.packetsReceived || 0; } });
		return n > 50 && e > 0;
	})`, strconv.Quote(id)), time.Minute)

	// 4. Medooze's WHEP client plays alice (a browser room participant).
	player := browsertest.Launch(t, browsertest.Options{Name: "medooze-whep"})
	player.Navigate(pages + "/play")
	browsertest.Eval[bool](player, fmt.Sprintf(`(async () => {
		const pc = new RTCPeerConnection();
		pc.addTransceiver('video', {direction: 'recvonly'});
		pc.addTransceiver('audio', {direction: 'recvonly'});
		const ms = new MediaStream();
		pc.ontrack = (e) => { ms.addTrack(e.track); const v = document.querySelector('video'); if (!v.srcObject) v.srcObject = ms; };
		window.pc = pc;
		const whep = new MedoozeWHEPClient();
		window.whep = whep;
		await whep.view(pc, %s);
		return true;
	})()`, strconv.Quote(url+"/whep/thirdparty/alice")))
	player.WaitFor("> 30 frames decoded by the WHEP player", `window.pc.getStats().then((s) => {
		let n = 0;
		s.forEach((r) => { if (r.type === 'inbound-rtp' && r.kind === 'video') n += r.framesDecoded || 0; });
		return n > 30;
	})`, time.Minute)
	t.Logf("the WHEP player shows alice: luma stddev %.1f", player.WaitNonBlack("video"))
	player.WaitFor("audio packets at the WHEP player", `window.pc.getStats().then((s) => {
		let n = 0;
		s.forEach((r) => { if (r.type === 'inbound-rtp' && r.kind === 'audio') n += r.packetsReceived || 0; });
		return n > 50;
	})`, time.Minute)

	// 5. Both clients end their sessions with DELETE.
	browsertest.Eval[bool](player, `window.whep.stop().then(() => true)`)
	browsertest.Eval[bool](pub, `window.whip.destroy().then(() => true)`)
	alice.WaitFor("eyevinn to leave the room", fmt.Sprintf(`!document.querySelector(%s)`, strconv.Quote(sel)), time.Minute)
}
