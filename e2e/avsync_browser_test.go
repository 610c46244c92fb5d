package e2e

import (
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/videochat/videochat/internal/browsertest"
	"github.com/videochat/videochat/internal/pulsetest"
)

// beepSender replaces the page's microphone by the native test tone's
// marks (capture/tone.go): 440 Hz at 0.05 of full scale, 0.3 for the
// first 300 ms of every second of Date.now(). A ScriptProcessorNode makes
// it (the page's CSP admits no worklet module): a buffer that the context
// renders at context time p is rendered at Date.now() + (p − currentTime)
// s, and the MediaStreamAudioDestinationNode hands it to WebRTC then.
const beepSender = `(() => {
	const md = navigator.mediaDevices;
	const orig = md.getUserMedia.bind(md);
	md.getUserMedia = async (c) => {
		const s = await orig(c);
		if (!c || !c.audio) return s;
		const ac = new AudioContext({sampleRate: 48000});
		const sp = ac.createScriptProcessor(256, 1, 1);
		let phase = 0;
		sp.onaudioprocess = (e) => {
			const out = e.outputBuffer.getChannelData(0);
			const t0 = Date.now() + (e.playbackTime - ac.currentTime) * 1000;
			for (let i = 0; i < out.length; i++) {
				const t = t0 + i * 1000 / 48000;
				const amp = ((t % 1000) + 1000) % 1000 < 300 ? 0.3 : 0.05;
				phase += 2 * Math.PI * 440 / 48000;
				out[i] = amp * Math.sin(phase);
			}
		};
		const dst = ac.createMediaStreamDestination();
		const mute = ac.createGain();
		mute.gain.value = 0;
		sp.connect(dst);
		sp.connect(mute).connect(ac.destination); // a script processor runs only when pulled by the destination
		await ac.resume();
		window.__beeper = {ac, sp}; // keep it alive
		for (const t of s.getAudioTracks()) { s.removeTrack(t); t.stop(); }
		s.addTrack(dst.stream.getAudioTracks()[0]);
		return s;
	};
})();`

// chromiumTalker starts a Chromium page "talker" whose video is the time
// strip (stripSender) and whose audio beeps on the second (beepSender).
func chromiumTalker(t *testing.T) func(url string, srv *pulsetest.Server, env []string) {
	return func(url string, srv *pulsetest.Server, _ []string) {
		srv.Setenv(t) // Chromium's audio goes to this sound server (default sink "other")
		pg := browsertest.Launch(t, browsertest.Options{Name: "talker"})
		for _, js := range []string{stripSender, beepSender} {
			if _, err := chromedp.Call(pg.Context(), page.AddScriptToEvaluateOnNewDocument,
				page.AddScriptToEvaluateOnNewDocumentParams{Source: js}); err != nil {
				t.Fatal(err)
			}
		}
		pg.Navigate(url + "/room/sync?name=talker")
	}
}

// TestLipSyncChromium is TestLipSyncNative with a Chromium sender: its
// canvas carries the time strip, its WebAudio tone beeps on the second.
// The offset is logged; it is asserted within ±80 ms like the native one.
func TestLipSyncChromium(t *testing.T) {
	browsertest.Require(t)
	r := measureLipSync(t, 12*time.Second, chromiumTalker(t))
	t.Logf("lip sync, Chromium → native, over %d beeps: offset median %+.1f ms, min %+.1f ms, max %+.1f ms (audio lag median %.1f ms, video lag median %.1f ms); receiver's own audio lag estimate %.1f ms; %d frames seen",
		len(r.offsets), ms(r.median), ms(r.min), ms(r.max), ms(r.audioLag), ms(r.videoLag), ms(r.heardLag), r.framesSeen)
	if len(r.offsets) < 6 {
		t.Fatalf("only %d beeps measured in 12 s", len(r.offsets))
	}
	if r.median < -maxAVOffset || r.median > maxAVOffset {
		t.Errorf("audio and video out of sync: median offset %+.1f ms, want within ±%v", ms(r.median), maxAVOffset)
	}
}
