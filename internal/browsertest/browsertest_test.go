package browsertest_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/videochat/videochat/internal/browsertest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testPage shows two videos fed from canvases: #busy shows a gradient with
// moving bars, #black a black canvas.
const testPage = `<!doctype html><html><body>
<video id="busy" autoplay muted playsinline></video>
<video id="black" autoplay muted playsinline></video>
<script>
function feed(id, draw) {
  const c = document.createElement('canvas');
  c.width = 320; c.height = 240;
  const g = c.getContext('2d');
  let t = 0;
  setInterval(() => draw(g, t++), 40);
  draw(g, t);
  document.getElementById(id).srcObject = c.captureStream(25);
}
feed('busy', (g, t) => {
  for (let x = 0; x < 320; x += 10) { g.fillStyle = 'hsl(' + ((x + t * 4) % 360) + ',80%,50%)'; g.fillRect(x, 0, 10, 240); }
});
feed('black', (g) => { g.fillStyle = '#000'; g.fillRect(0, 0, 320, 240); });
window.later = (v, ms) => new Promise((r) => setTimeout(() => r(v), ms));
console.log('test page ready');
</script></body></html>`

func TestPage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, testPage)
	}))
	t.Cleanup(srv.Close)

	p := browsertest.Launch(t, browsertest.Options{Name: "harness", Timeout: 20 * time.Second})
	p.Navigate(srv.URL)

	t.Run("Wait awaits promises", func(t *testing.T) {
		p := p.For(t)
		if _, err := p.Wait(`later(false, 10)`, 300*time.Millisecond); !errors.Is(err, browsertest.ErrTimeout) {
			t.Errorf("Wait on a promise of false: err = %v, want ErrTimeout", err)
		}
		if d, err := p.Wait(`later(true, 10)`, 5*time.Second); err != nil || d > 4*time.Second {
			t.Errorf("Wait on a promise of true: %v, %v", d, err)
		}
		if _, err := p.Wait(`undefinedName.x`, 200*time.Millisecond); err == nil || !strings.Contains(err.Error(), "undefinedName") {
			t.Errorf("Wait on a throwing condition: err = %v, want the exception", err)
		}
	})

	t.Run("luma tells pictures from black", func(t *testing.T) {
		p := p.For(t)
		if sd := p.WaitNonBlack("#busy"); sd <= browsertest.MinLumaStdDev {
			t.Errorf("#busy stddev %.2f", sd)
		}
		p.WaitFor("black video playing", `document.querySelector('#black').videoWidth > 0`, 0)
		mean, sd, err := p.VideoLuma("#black")
		if err != nil {
			t.Fatal(err)
		}
		if sd > 1 || mean > 5 {
			t.Errorf("#black: mean %.2f stddev %.2f, want ≈ 0", mean, sd)
		}
		if _, _, err := p.VideoLuma("#missing"); err == nil {
			t.Error("VideoLuma of a missing element: no error")
		}
	})

	t.Run("console is recorded", func(t *testing.T) {
		found := slices.ContainsFunc(p.ConsoleLog(), func(s string) bool { return strings.Contains(s, "test page ready") })
		if !found {
			t.Errorf("console log lacks the page's message: %q", p.ConsoleLog())
		}
	})

	t.Run("FramesDecoded without the hook", func(t *testing.T) {
		if n, err := p.For(t).FramesDecoded("x"); n != -1 || err != nil {
			t.Errorf("FramesDecoded on a page without window.videochat = %d, %v; want -1, nil", n, err)
		}
	})
}
