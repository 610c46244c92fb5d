package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/browsertest"
)

// TestBrowserWHIPSimulcast: Chromium publishes its fake camera through
// /whip with three simulcast encodings (rids q, h, f), as browser WHIP
// clients do with sendEncodings. The answer accepts the simulcast, the
// browser sends several layers, the server forwards one (its log names the
// layer chosen) and a native room participant counts the publisher's video
// and audio.
func TestBrowserWHIPSimulcast(t *testing.T) {
	browsertest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	srv, url := startServer(ctx, t, "--whip")
	pub := browsertest.Launch(t, browsertest.Options{Name: "simulcast-whip"})
	pub.Navigate(url + "/")
	answer := browsertest.Eval[string](pub, fmt.Sprintf(`(async () => {
		const stream = await navigator.mediaDevices.getUserMedia({video: {width: 1280, height: 720}, audio: true});
		const pc = new RTCPeerConnection();
		window.pc = pc;
		pc.addTransceiver(stream.getVideoTracks()[0], {direction: 'sendonly', sendEncodings: [
			{rid: 'q', scaleResolutionDownBy: 4}, {rid: 'h', scaleResolutionDownBy: 2}, {rid: 'f'}]});
		pc.addTransceiver(stream.getAudioTracks()[0], {direction: 'sendonly'});
		await pc.setLocalDescription(await pc.createOffer());
		await new Promise((done) => {
			if (pc.iceGatheringState === 'complete') return done();
			pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === 'complete') done(); };
		});
		const resp = await fetch(%s, {method: 'POST', headers: {'Content-Type': 'application/sdp'}, body: pc.localDescription.sdp});
		const sdp = await resp.text();
		if (resp.status !== 201) throw new Error('POST: ' + resp.status + ' ' + sdp);
		await pc.setRemoteDescription({type: 'answer', sdp});
		return sdp;
	})()`, strconv.Quote(url+"/whip/sim?name=browser")))
	if !strings.Contains(answer, "a=simulcast:recv") {
		t.Fatalf("the answer does not accept the simulcast:\n%s", answer)
	}
	pub.WaitFor("the browser to send two or more simulcast layers", `window.pc.getStats().then((s) => {
		let n = 0;
		s.forEach((r) => { if (r.type === 'outbound-rtp' && r.kind === 'video' && r.rid && r.bytesSent > 0) n++; });
		return n >= 2;
	})`, time.Minute)
	chosen := regexp.MustCompile(`simulcast layer (?:chosen|switched).* (?:rid|to)=(\w+)`)
	deadline := time.Now().Add(time.Minute)
	for len(chosen.FindAllString(srv.output(), -1)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the server did not choose a simulcast layer:\n%s", srv.output())
		}
		time.Sleep(200 * time.Millisecond)
	}
	robot := start(t, joinArgs(url, "sim", "robot", "--video", "none", "--audio", "none", "--expect", "1", "--duration", "10s")...)
	if code := robot.wait(ctx); code != 0 {
		t.Fatalf("native participant: exit %d, want 0 (the browser's video and audio)\n%s", code, robot.output())
	}
	for _, m := range chosen.FindAllStringSubmatch(srv.output(), -1) {
		t.Logf("%s", m[0])
	}
}
