package e2e

// The camera path end to end without /dev/video*: a videochat built with
// -tags fakecam registers internal/fakecam's cameras (realistic mode
// lists) in mediadevices' driver manager; `join --video camera` picks a
// mode, scales, and a headless Chromium shows the camera's picture (bright
// left half, dark right half). Unplugging (the unplug file appears) turns
// it into the black name card with the process up; replugging brings the
// camera back.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/browsertest"
	"github.com/videochat/videochat/internal/fakecam"
	"github.com/videochat/videochat/internal/testbin"
)

const fakecamPkg = "github.com/videochat/videochat/internal/fakecam"

// TestProductHasNoFakeCamera: the fake driver is linked only with
// -tags fakecam, never into the product binary.
func TestProductHasNoFakeCamera(t *testing.T) {
	deps := func(tags string) string {
		out, err := exec.Command("go", "list", "-tags", tags, "-deps", "github.com/videochat/videochat/cmd/videochat").Output()
		if err != nil {
			t.Fatalf("go list -tags %q: %v", tags, err)
		}
		return string(out)
	}
	if strings.Contains(deps(""), fakecamPkg+"\n") {
		t.Errorf("the product binary depends on %s", fakecamPkg)
	}
	if !strings.Contains(deps("fakecam"), fakecamPkg+"\n") {
		t.Errorf("-tags fakecam does not link %s: the check above proves nothing", fakecamPkg)
	}
	out, err := exec.Command("go", "tool", "nm", binPath).Output()
	if err != nil {
		t.Fatalf("go tool nm: %v", err)
	}
	if strings.Contains(string(out), "internal/fakecam.") {
		t.Errorf("the e2e binary (a product build) has symbols of %s", fakecamPkg)
	}
}

func TestFakeCameraToBrowser(t *testing.T) {
	browsertest.Require(t)
	bin := testbin.ForTest(t, "videochat-fakecam-", "fakecam")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, url := startServer(ctx, t)
	unplug := filepath.Join(t.TempDir(), "unplug")
	t.Setenv(fakecam.EnvModels, "mjpeg,yuyv,nv12,hd720")
	t.Setenv(fakecam.EnvUnplug, unplug)

	out, err := exec.CommandContext(ctx, bin, "devices", "--json").Output()
	if err != nil || !strings.Contains(string(out), `"id":"fake-hd720"`) {
		t.Fatalf("devices --json of the fakecam build (%v) lacks fake-hd720:\n%s", err, out)
	}

	pg := browsertest.Launch(t, browsertest.Options{Name: "viewer"})
	for _, c := range []struct {
		camera     string
		w, h, fps  int
		mode       string
		outW, outH int
		unplug     bool
	}{
		// the mode that matches exactly, from a camera with MJPEG only
		{"fake-mjpeg", 640, 480, 30, "640x480@30 MJPEG", 640, 480, false},
		// the size at the rate asked for (640x480 is offered at 30 and 15)
		{"fake-yuyv", 640, 480, 15, "640x480@15 YUYV", 640, 480, false},
		// the nearest size, scaled down to fit
		{"fake-nv12", 320, 240, 30, "640x360@30 NV12", 320, 180, false},
		// no 320x240: the camera's only mode, scaled to fit the box
		{"fake-hd720", 320, 240, 30, "1280x720@30 YUYV", 320, 180, true},
	} {
		t.Run(c.camera, func(t *testing.T) {
			pg := pg.For(t)
			ctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			room := strings.TrimPrefix(c.camera, "fake-")
			p := startBinary(t, bin, false, joinArgs(url, room, "cam", "--video", "camera", "--camera", c.camera, "--audio", "none", "--log-level", "info",
				"--width", strconv.Itoa(c.w), "--height", strconv.Itoa(c.h), "--fps", strconv.Itoa(c.fps))...)
			pg.Navigate(url + "/room/" + room + "?name=viewer")
			tile, id := tileOf(pg, "cam")
			sel := strconv.Quote(tile)
			pg.WaitFramesDecoded(id, 10)
			// The mode join chose (logged when the camera opens: at the first subscriber).
			waitOutput(ctx, t, p, fmt.Sprintf("mode=%q", c.mode))
			size := browsertest.Eval[[]int](pg, fmt.Sprintf(`(() => { const v = document.querySelector(%s); return [v.videoWidth, v.videoHeight]; })()`, sel))
			if len(size) != 2 || size[0] != c.outW || size[1] != c.outH {
				t.Errorf("Chromium shows %v, want %dx%d", size, c.outW, c.outH)
			}
			// The camera's picture: left bright, right dark.
			live := fmt.Sprintf(`(() => { const s = %s; return s[0] > 150 && s[1] < 90; })()`, samples(sel))
			pg.WaitFor("the camera's picture (bright left, dark right)", live, time.Minute)
			if !c.unplug {
				return
			}

			if err := os.WriteFile(unplug, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			waitOutput(ctx, t, p, "video device lost")
			// The black name card: both halves black, the name across the middle.
			card := fmt.Sprintf(`(() => { const s = %s; return s[0] < 40 && s[1] < 40 && s[2] > 100; })()`, samples(sel))
			pg.WaitFor("the black card with the name", card, time.Minute)
			n, err := pg.FramesDecoded(id)
			if err != nil {
				t.Fatal(err)
			}
			pg.WaitFramesDecoded(id, n+20) // frames go on while unplugged
			select {
			case <-p.done():
				t.Fatalf("join ended while the camera was unplugged:\n%s", p.output())
			default:
			}

			if err := os.Remove(unplug); err != nil {
				t.Fatal(err)
			}
			waitOutput(ctx, t, p, "video device is back")
			pg.WaitFor("the camera's picture after the replug", live, time.Minute)
		})
	}
}

// samples is a JS expression: [luma at (¼, ¼), luma at (¾, ¼), brightest
// luma along the middle row] of the video element sel.
func samples(sel string) string {
	return fmt.Sprintf(`(() => {
		const v = document.querySelector(%s);
		const c = document.createElement('canvas');
		c.width = v.videoWidth; c.height = v.videoHeight;
		const g = c.getContext('2d');
		g.drawImage(v, 0, 0);
		const luma = d => 0.299 * d[0] + 0.587 * d[1] + 0.114 * d[2];
		const at = (x, y) => luma(g.getImageData(Math.floor(x * c.width), Math.floor(y * c.height), 1, 1).data);
		const row = g.getImageData(0, Math.floor(c.height / 2), c.width, 1).data;
		let mid = 0;
		for (let i = 0; i < row.length; i += 4) mid = Math.max(mid, luma(row.subarray(i, i + 4)));
		return [at(0.25, 0.25), at(0.75, 0.25), mid];
	})()`, sel)
}
