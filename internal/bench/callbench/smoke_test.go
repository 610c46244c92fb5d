package callbench

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"
)

// requireChromium returns the Chromium path; without one the test fails
// when CI=true and otherwise continues without Chromium, saying so loudly.
func requireChromium(t *testing.T) string {
	t.Helper()
	p := ChromiumPath()
	if p == "" {
		const msg = "*** CHROMIUM NOT FOUND: the Chromium half of the bench smoke test did NOT run. ***"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Log(msg)
	}
	return p
}

// TestRunCallSmoke runs the whole call benchmark briefly: one set-up run
// per kind and 3 s windows.
func TestRunCallSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers, peers and Chromium")
	}
	chromium := requireChromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep, err := RunCall(ctx, CallConfig{Chromium: chromium, Runs: 1,
		Window: Window{Binary: binPath, Measure: 3 * time.Second, Warmup: time.Second, Ramp: 20 * time.Second,
			Logger: slog.New(slog.NewTextHandler(tWriter{t}, nil))}})
	if err != nil {
		t.Fatal(err)
	}
	var md bytes.Buffer
	rep.WriteMarkdown(&md)
	t.Logf("report:\n%s", md.String())

	if rep.Setup.Native.N != 1 || rep.Setup.Native.P50 <= 0 || rep.Setup.Native.P50 > 30_000 {
		t.Errorf("native set-up = %+v, want one run in (0, 30 s]", rep.Setup.Native)
	}
	wantCalls := 2
	if chromium != "" {
		wantCalls = 5
		if rep.Setup.ChromiumNav.N != 1 || rep.Setup.ChromiumLaunch.P50 < rep.Setup.ChromiumNav.P50 {
			t.Errorf("Chromium set-up = nav %+v, launch %+v: want one run, launch ≥ navigation", rep.Setup.ChromiumNav, rep.Setup.ChromiumLaunch)
		}
	}
	if len(rep.Calls) != wantCalls {
		t.Fatalf("%d calls measured, want %d", len(rep.Calls), wantCalls)
	}
	for _, c := range rep.Calls {
		for _, s := range c.Sides {
			if s.CPUCores <= 0 || s.RSSMiB <= 0 || s.Processes < 1 {
				t.Errorf("%s, %s: usage %+v: want CPU, RSS and a process", c.Name, s.Name, s.Usage)
			}
			if s.RecvVideoKbps <= 0 || s.RecvFPS <= 0 {
				t.Errorf("%s, %s: received %.0f kbps at %.1f fps: want video", c.Name, s.Name, s.RecvVideoKbps, s.RecvFPS)
			}
			if s.Kind == "chromium" && s.Processes < 2 {
				t.Errorf("%s, %s: %d processes: the Chromium tree was not followed", c.Name, s.Name, s.Processes)
			}
		}
		if strings.Contains(c.Name, "H.264") && c.Sides[1].RecvCodec != "video/H264" {
			t.Errorf("%s: Chromium received %q, want video/H264", c.Name, c.Sides[1].RecvCodec)
		}
	}
	if len(rep.Goals) == 0 {
		t.Error("no goals evaluated")
	}
	dir := t.TempDir()
	paths, err := rep.WritePlots(dir)
	if err != nil || len(paths) != 4 {
		t.Fatalf("plots %v, %v; want 4", paths, err)
	}
}

// TestRunMeshSmoke measures a sender with 1 and 2 receivers briefly.
func TestRunMeshSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers and peers")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := RunMesh(ctx, MeshConfig{Peers: []int{1, 2}, Video: "test",
		Window: Window{Binary: binPath, Measure: 3 * time.Second, Warmup: time.Second, Ramp: 45 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	var md bytes.Buffer
	rep.WriteMarkdown(&md)
	t.Logf("report:\n%s", md.String())
	if len(rep.Points) != 2 {
		t.Fatalf("%d points, want 2", len(rep.Points))
	}
	for i, p := range rep.Points {
		if p.Peers != i+1 || p.Sender.CPUCores <= 0 || p.MinRecvFPS <= 0 || p.SentKbps <= 0 {
			t.Errorf("point %d = %+v: want %d peers receiving video from a busy sender", i, p, i+1)
		}
	}
	// Each link starts at gcc's initial estimate: the windows open once
	// every link's estimate is near the ceiling, so every receiver gets the
	// full stream. gcc may still hold a link lower on a machine so loaded
	// that its scheduling delays look like queueing (reported, not ramped).
	if rep.Points[0].Ramped && rep.Points[1].Ramped {
		if rep.Points[1].SentKbps < rep.Points[0].SentKbps*1.5 {
			t.Errorf("sent %.0f kbps to 2 peers vs %.0f to 1 with every link ramped up: want about twice", rep.Points[1].SentKbps, rep.Points[0].SentKbps)
		}
	} else {
		t.Logf("*** links did not ramp up (points %+v): the 2:1 bitrate ratio was NOT checked ***", rep.Points)
		if rep.Points[1].SentKbps <= rep.Points[0].SentKbps {
			t.Errorf("sent %.0f kbps to 2 peers vs %.0f to 1: want more", rep.Points[1].SentKbps, rep.Points[0].SentKbps)
		}
	}
}

// tWriter sends log output to the test log.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
