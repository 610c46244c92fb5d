package e2e

import (
	"context"
	"fmt"
	"image/color"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/videochat/videochat/internal/browsertest"
	"github.com/videochat/videochat/internal/xvfbtest"
	"github.com/videochat/videochat/peer"
	"github.com/videochat/videochat/view"
	"github.com/videochat/videochat/view/window"
)

// preferH264 makes the page put H.264 (packetization-mode=1) first on each
// video sender it adds, as a browser that prefers H.264 does.
const preferH264 = `(() => {
	const add = RTCPeerConnection.prototype.addTrack;
	RTCPeerConnection.prototype.addTrack = function (track, ...streams) {
		const sender = add.call(this, track, ...streams);
		if (track.kind === 'video') {
			const t = this.getTransceivers().find((t) => t.sender === sender);
			const cs = RTCRtpReceiver.getCapabilities('video').codecs;
			const h264 = cs.filter((c) => c.mimeType === 'video/H264' && /packetization-mode=1/.test(c.sdpFmtpLine || ''));
			if (t && h264.length) t.setCodecPreferences([...h264, ...cs.filter((c) => !h264.includes(c))]);
		}
		return sender;
	};
})();`

// TestViewWindowH264: a Chromium page that prefers H.264 sends it to the
// native viewer, which decodes it (libavcodec) and shows it.
func TestViewWindowH264(t *testing.T) {
	browsertest.Require(t)
	d := xvfbtest.Start(t, 1280, 720)
	d.Setenv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, url := startServer(ctx, t)
	pg := browsertest.Launch(t, browsertest.Options{Name: "hedy",
		Flags: map[string]any{"use-file-for-fake-video-capture": writeY4M(t, 640, 480, 41, 240, 110)}})
	if _, err := chromedp.Call(pg.Context(), page.AddScriptToEvaluateOnNewDocument,
		page.AddScriptToEvaluateOnNewDocumentParams{Source: preferH264}); err != nil {
		t.Fatal(err)
	}
	pg.Navigate(url + "/room/vh264?name=hedy")
	pg.WaitFor("hedy joined", `window.videochat && window.videochat.state === 'joined'`, time.Minute)
	stats := filepath.Join(t.TempDir(), "stats.jsonl")
	start(t, joinArgs(url, "vh264", "viewer", "--video", "none", "--audio", "none",
		"--view", "window", "--fullscreen", "--stats-json", stats)...)

	waitCheck(ctx, t, "hedy's H.264 decoded", func() error {
		l, err := peer.LastStatsLine[viewLine](stats)
		if err != nil || l.View == nil {
			return fmt.Errorf("no view stats yet (%v)", err)
		}
		for _, p := range l.View.Peers {
			if p.Name == "hedy" && p.Codec == "video/h264" && p.FramesDecoded > 30 {
				return nil
			}
		}
		return fmt.Errorf("view stats %+v", l.View.Peers)
	})
	waitCheck(ctx, t, "hedy's tile blue", func() error {
		shot, err := screenshot(d)
		if err != nil {
			return err
		}
		at := func(x, y int) color.RGBA {
			r, g, b, _ := shot.At(x, y).RGBA()
			return color.RGBA{byte(r >> 8), byte(g >> 8), byte(b >> 8), 255}
		}
		r := window.Rects(1, 1280, 720)[0]
		fit := view.Fit(r.Picture, 640, 480)
		if s := share(shrinkRect(fit, 0.05), 4, at, func(c color.RGBA) bool { return c.B > 170 && c.R < 90 && c.G < 90 }); s < 0.95 {
			return fmt.Errorf("%.0f%% blue", s*100)
		}
		return captionMatches(shot, r.Caption, "hedy")
	})
}
