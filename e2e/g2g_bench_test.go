package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/videochat/videochat/internal/browsertest"
)

// stripSender replaces the page's camera by a 640×480 canvas stream that
// carries its capture time in the same strip as capture's test pattern
// (internal/timestrip: guard blocks white, black, then 32 bits of
// Date.now() mod 2³², blocks of 16 px), drawn and captured every 33 ms.
const stripSender = `(() => {
	const md = navigator.mediaDevices;
	const orig = md.getUserMedia.bind(md);
	md.getUserMedia = async (c) => {
		const s = await orig(c);
		if (!c || !c.video) return s;
		const cv = document.createElement('canvas');
		cv.width = 640; cv.height = 480;
		const g = cv.getContext('2d');
		let n = 0;
		const draw = () => {
			n++;
			g.fillStyle = 'hsl(' + (n * 3 % 360) + ',60%,50%)';
			g.fillRect(0, 0, 640, 480);
			const ms = Date.now() % 4294967296;
			for (let i = 0; i < 34; i++) {
				const on = i === 0 ? true : i === 1 ? false : Math.floor(ms / 2 ** (31 - (i - 2))) % 2 === 1;
				g.fillStyle = on ? '#fff' : '#000';
				g.fillRect(i * 16, 0, 16, 16);
			}
		};
		draw();
		const track = cv.captureStream(0).getVideoTracks()[0];
		setInterval(() => { draw(); track.requestFrame(); }, 33);
		for (const t of s.getVideoTracks()) { s.removeTrack(t); t.stop(); }
		s.addTrack(track);
		return s;
	};
})();`

// stripReader (a function expression) resolves to n latencies in ms: for
// each frame the <video> of peer name presents, now − the time in its strip.
const stripReader = `((name, n) => new Promise((resolve) => {
	const v = document.querySelector('video[data-peer-name="' + name + '"]');
	const c = document.createElement('canvas');
	const g = c.getContext('2d', {willReadFrequently: true});
	const lat = [];
	const step = () => {
		const now = Date.now();
		const w = v.videoWidth, h = v.videoHeight;
		if (w && h) {
			c.width = w; c.height = h;
			g.drawImage(v, 0, 0);
			const b = Math.max(Math.floor(w / 40), 4) & ~1;
			const d = g.getImageData(0, 0, 34 * b, b).data;
			const luma = (i) => {
				let s = 0, k = 0;
				for (let y = b >> 2; y < b - (b >> 2); y++) for (let x = b >> 2; x < b - (b >> 2); x++) {
					const o = (y * 34 * b + i * b + x) * 4;
					s += 0.299 * d[o] + 0.587 * d[o + 1] + 0.114 * d[o + 2]; k++;
				}
				return s / k;
			};
			const hi = luma(0), lo = luma(1);
			if (hi - lo > 100) {
				let ms = 0;
				for (let i = 0; i < 32; i++) ms = ms * 2 + (luma(i + 2) > (hi + lo) / 2 ? 1 : 0);
				let dt = now % 4294967296 - ms;
				if (dt < -2147483648) dt += 4294967296;
				if (dt > 2147483648) dt -= 4294967296;
				lat.push(dt);
			}
		}
		if (lat.length >= n) resolve(lat); else v.requestVideoFrameCallback(step);
	};
	v.requestVideoFrameCallback(step);
}))`

// BenchmarkGlassToGlassBrowser: capture-to-presentation latency with a
// Chromium receiver. The sender is a native peer (--video test, whose
// pattern carries the strip) or a Chromium page drawing the same strip on
// a canvas stream; the receiving page reads the strip back from its
// <video> at each requestVideoFrameCallback. Reports p50/p90/p99 ms of 300
// frames. Native → native is view's BenchmarkGlassToGlass.
//
//	go test ./e2e -run '^$' -bench GlassToGlassBrowser -benchtime 1x
func BenchmarkGlassToGlassBrowser(b *testing.B) {
	for _, from := range []string{"native", "chromium"} {
		b.Run(from+"-to-chromium", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				benchG2GBrowser(b, from)
			}
		})
	}
}

func benchG2GBrowser(b *testing.B, from string) {
	browsertest.Require(b)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, url := startServer(ctx, b)
	if from == "native" {
		start(b, joinArgs(url, "g2g", "sender", "--video", "test", "--audio", "none", "--view", "none")...)
	} else {
		snd := browsertest.Launch(b, browsertest.Options{Name: "sender"})
		if _, err := chromedp.Call(snd.Context(), page.AddScriptToEvaluateOnNewDocument,
			page.AddScriptToEvaluateOnNewDocumentParams{Source: stripSender}); err != nil {
			b.Fatal(err)
		}
		snd.Navigate(url + "/room/g2g?name=sender")
	}
	rcv := browsertest.Launch(b, browsertest.Options{Name: "receiver"})
	rcv.Navigate(url + "/room/g2g?name=receiver")
	rcv.WaitFor("sender's video", `(() => { const v = document.querySelector('video[data-peer-name="sender"]'); return !!v && v.videoWidth > 0; })()`, time.Minute)
	time.Sleep(2 * time.Second) // past the first frames and the ramp-up
	b.ResetTimer()
	lat, err := browsertest.EvalErr[[]float64](rcv, stripReader+`('sender', 300)`)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return lat[int(p*float64(len(lat)-1))] }
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.9), "p90-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.Logf("%s → chromium: %d frames, p50 %.1f ms, p90 %.1f ms, p99 %.1f ms", from, len(lat), pct(0.5), pct(0.9), pct(0.99))
}
