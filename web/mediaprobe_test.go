package web_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/videochat/videochat/internal/browsertest"
)

// mediaProbeJS runs in the page before the client's modules. It records
// the constraints of every getUserMedia and getDisplayMedia call in
// window.__media and, in mode 'magenta' (the default), makes
// getDisplayMedia return a stand-in screen: a solid magenta 640×360 picture
// with a moving caption along its bottom edge, at 30 frames/s, from a
// MediaStreamTrackGenerator. window.__media.end() ends that source as a
// browser does when the user stops sharing from its own UI: the track turns
// "ended" and fires its ended event (track.stop() fires none). In mode
// 'real' the browser's own getDisplayMedia answers (headless Chromium with
// fake devices returns a synthetic 800×450 screen). Setting
// window.__media.failUser to an error name makes the next getUserMedia call
// fail with it, as a camera in use by another program does.
const mediaProbeJS = `(() => {
	const md = navigator.mediaDevices;
	if (!md || window.__media) return;
	const copy = (v) => JSON.parse(JSON.stringify(v ?? null));
	const realUser = md.getUserMedia.bind(md);
	const realDisplay = md.getDisplayMedia ? md.getDisplayMedia.bind(md) : null;
	const rec = window.__media = {mode: 'magenta', failUser: '', user: [], display: [], shared: null, end: () => false};
	md.getUserMedia = (c) => {
		rec.user.push(copy(c));
		const fail = rec.failUser;
		rec.failUser = '';
		return fail ? Promise.reject(new DOMException('Could not start video source', fail)) : realUser(c);
	};
	md.getDisplayMedia = async (c) => {
		rec.display.push(copy(c));
		const stream = rec.mode === 'real' ? await realDisplay(c) : magenta();
		rec.shared = stream.getVideoTracks()[0];
		return stream;
	};
	function magenta() {
		const w = 640, h = 360;
		const canvas = document.createElement('canvas');
		canvas.width = w; canvas.height = h;
		const g = canvas.getContext('2d');
		const gen = new MediaStreamTrackGenerator({kind: 'video'});
		const writer = gen.writable.getWriter();
		let n = 0, ended = false;
		const timer = setInterval(() => {
			g.fillStyle = '#ff00ff';
			g.fillRect(0, 0, w, h);
			g.fillStyle = '#ffffff';
			g.font = '32px sans-serif';
			g.fillText('shared screen ' + n, (n * 7) % (w - 200), h - 16);
			const frame = new VideoFrame(canvas, {timestamp: n++ * 33333});
			writer.write(frame).catch(() => frame.close());
		}, 33);
		rec.end = () => {
			if (ended) return false;
			ended = true;
			clearInterval(timer);
			writer.close();
			return true;
		};
		return new MediaStream([gen]);
	}
})()`

// launchProbed launches a browser with mediaProbeJS installed for every
// document it loads.
func launchProbed(t *testing.T, opts browsertest.Options) *browsertest.Page {
	t.Helper()
	p := browsertest.Launch(t, opts)
	p.Do("install the media probe", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument,
			page.AddScriptToEvaluateOnNewDocumentParams{Source: mediaProbeJS})
		return err
	}))
	return p
}

// joinProbed is join with mediaProbeJS installed in the page.
func joinProbed(t *testing.T, s *testServer, room, name string, opts browsertest.Options) *participant {
	t.Helper()
	opts.Name = name
	p := launchProbed(t, opts)
	p.Navigate(s.roomURL(room, name))
	p.WaitFor("joined", `window.videochat && window.videochat.state === 'joined'`, 0)
	if !browsertest.Eval[bool](p, `!!window.__media`) {
		t.Fatalf("%s: the media probe did not run before the page's scripts", name)
	}
	return &participant{Page: p, name: name, id: browsertest.Eval[string](p, `window.videochat.id`)}
}

// senderJS is a JavaScript expression: the RTCRtpSender of kind on the
// connection to peer id.
func senderJS(peerID, kind string) string {
	return fmt.Sprintf(`window.videochat.peers().get(%s).getTransceivers()
		.find((tr) => tr.receiver.track.kind === %s).sender`, strconv.Quote(peerID), strconv.Quote(kind))
}

// watchConnection remembers on p the connection to peer id, its outgoing
// camera and microphone tracks, and counts the connection's signalling state
// changes from now on (every offer or answer applied changes it).
func watchConnection(p *participant, peerID string) {
	browsertest.Eval[bool](p.Page, fmt.Sprintf(`(() => {
		const pc = window.videochat.peers().get(%s);
		window.__watch = {pc, changes: 0, camera: %s.track, mic: %s.track};
		pc.addEventListener('signalingstatechange', () => window.__watch.changes++);
		return true;
	})()`, strconv.Quote(peerID), senderJS(peerID, "video"), senderJS(peerID, "audio")))
}

// checkNoRenegotiation fails t unless p still has the connection that
// watchConnection saw and it went through no offer/answer since.
func checkNoRenegotiation(t *testing.T, p *participant, peerID string) {
	t.Helper()
	same := browsertest.Eval[bool](p.Page, fmt.Sprintf(`window.videochat.peers().get(%s) === window.__watch.pc`, strconv.Quote(peerID)))
	changes := browsertest.Eval[int](p.Page, `window.__watch.changes`)
	if !same {
		t.Errorf("%s: the RTCPeerConnection to %s was replaced", p.name, peerID)
	}
	if changes != 0 {
		t.Errorf("%s: %d signalling state changes (renegotiation), want 0", p.name, changes)
	}
}

// centreRGBJS is a JavaScript expression: [r, g, b] averaged over the
// centre 8×8 pixels of the <video> matching selector scaled to 64×48, or
// null before its first frame.
func centreRGBJS(selector string) string {
	return fmt.Sprintf(`(() => {
		const v = document.querySelector(%s);
		if (!v || !v.videoWidth) return null;
		const c = document.createElement('canvas'); c.width = 64; c.height = 48;
		const g = c.getContext('2d', {willReadFrequently: true});
		g.drawImage(v, 0, 0, 64, 48);
		const d = g.getImageData(28, 20, 8, 8).data;
		const rgb = [0, 0, 0];
		for (let i = 0; i < d.length; i += 4) for (let k = 0; k < 3; k++) rgb[k] += d[i + k] / 64;
		return rgb.map(Math.round);
	})()`, strconv.Quote(selector))
}

// magentaCond is a JavaScript condition: the centre of the <video>
// matching selector is magenta (the stand-in screen of mediaProbeJS).
func magentaCond(selector string) string {
	return fmt.Sprintf(`((c) => c && c[0] > 180 && c[1] < 80 && c[2] > 180)(%s)`, centreRGBJS(selector))
}

// notMagentaCond is a JavaScript condition: the <video> matching selector
// shows a frame whose centre is not magenta.
func notMagentaCond(selector string) string {
	return fmt.Sprintf(`((c) => c && !(c[0] > 120 && c[1] < 120 && c[2] > 120))(%s)`, centreRGBJS(selector))
}

// centreRGB returns the centre colour of the <video> matching selector, for
// messages.
func centreRGB(p *browsertest.Page, selector string) string {
	s, err := browsertest.EvalErr[string](p, fmt.Sprintf(`JSON.stringify(%s)`, centreRGBJS(selector)))
	if err != nil {
		return err.Error()
	}
	return s
}

// aspectCond is a JavaScript condition: the <video> matching selector plays
// frames of aspect ratio w:h (±3 %).
func aspectCond(selector string, w, h float64) string {
	return fmt.Sprintf(`((v) => v && v.videoHeight > 0 && Math.abs(v.videoWidth / v.videoHeight / %g - 1) < 0.03)(document.querySelector(%s))`,
		w/h, strconv.Quote(selector))
}

// audioIn is what getStats reports about the audio received from a peer.
type audioIn struct {
	Packets int
	Energy  float64
}

// audioInJS is a JavaScript expression: the audioIn of the connection to
// peer id.
func audioInJS(peerID string) string {
	return fmt.Sprintf(`window.videochat.peers().get(%s).getStats().then((s) => {
		const a = {Packets: 0, Energy: 0};
		s.forEach((r) => {
			if (r.type === 'inbound-rtp' && r.kind === 'audio') { a.Packets += r.packetsReceived || 0; a.Energy += r.totalAudioEnergy || 0; }
		});
		return a;
	})`, strconv.Quote(peerID))
}

// waitAudioPackets waits until more than n audio packets from peer id have
// arrived at p, and returns the audio stats then.
func waitAudioPackets(p *browsertest.Page, peerID string, n int) audioIn {
	p.WaitFor(fmt.Sprintf("> %d audio packets from %s", n, peerID),
		fmt.Sprintf(`%s.then((a) => a.Packets > %d)`, audioInJS(peerID), n), 0)
	return browsertest.Eval[audioIn](p, audioInJS(peerID))
}
