//go:build !nogui

package window_test

import (
	"context"
	"fmt"
	"image"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/xvfbtest"
	"github.com/videochat/videochat/view"
	"github.com/videochat/videochat/view/internal/vtest"
	"github.com/videochat/videochat/view/window"
)

// BenchmarkWindowCPU: the window's own cost of showing the issue-12 room
// (two remote peers at 640×480@30, out of phase, and a third peer without
// video) in a 1280×720 window on Xvfb; no decoding, no network. Reported:
// CPU cores this process used over 10 s (getrusage), the presents per
// second, and the cores the X server (Xvfb) used meanwhile to put them on
// its screen. One sub-benchmark per SDL render driver; "default" is what Run
// picks (see Config.RenderDriver).
//
//	go test ./view/window -run '^$' -bench WindowCPU -benchtime 1x
func BenchmarkWindowCPU(b *testing.B) {
	for _, drv := range []string{"default", "software", "software-iyuv", "opengl", "opengles2"} {
		b.Run(drv, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				benchWindowCPU(b, drv)
			}
		})
	}
}

func benchWindowCPU(b *testing.B, drv string) {
	d := xvfbtest.Start(b, 1280, 720)
	b.Setenv("DISPLAY", d.Name)
	cfg := window.Config{}
	switch drv {
	case "default":
	case "software-iyuv": // SDL converts and stretches (Config.YUVTextures)
		cfg.RenderDriver, cfg.YUVTextures = "software", true
	default:
		cfg.RenderDriver = drv
	}
	var presents atomic.Int64
	cfg.OnPresent = func() { presents.Add(1) }
	a := [2]*imageFrame{{vtest.Solid(640, 480, 81, 90, 240)}, {vtest.Solid(640, 480, 145, 54, 34)}}
	bb := [2]*imageFrame{{vtest.Solid(640, 480, 41, 240, 110)}, {vtest.Solid(640, 480, 210, 16, 146)}}
	src := vtest.NewTiles()
	var mu sync.Mutex
	var seqA, seqB uint64
	set := func() { // new frames, same tiles: the version stays, as view.View's does
		src.SetFrames([]view.Tile{
			{ID: "a", Name: "s1", Frame: a[seqA%2].img, Seq: seqA},
			{ID: "b", Name: "s2", Frame: bb[seqB%2].img, Seq: seqB},
			{ID: "c", Name: "web"},
		})
	}
	set()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // the two peers' frames, 30 fps each, half a frame apart
		defer wg.Done()
		tick := time.NewTicker(time.Second / 60)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			mu.Lock()
			if n%2 == 0 {
				seqA++
			} else {
				seqB++
			}
			set()
			mu.Unlock()
		}
	}()
	done := make(chan error, 1)
	go func() { defer wg.Done(); done <- window.Run(ctx, cfg, src) }()
	time.Sleep(3 * time.Second) // open and settle
	xvfb := xvfbPID(b)
	c0, x0, t0 := cpuSeconds(), procCPU(xvfb), time.Now()
	p0 := presents.Load()
	b.ResetTimer()
	time.Sleep(10 * time.Second)
	b.StopTimer()
	el := time.Since(t0).Seconds()
	cores := (cpuSeconds() - c0) / el
	xcores := (procCPU(xvfb) - x0) / el
	pps := float64(presents.Load()-p0) / el
	cancel()
	wg.Wait()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(cores, "cores")
	b.ReportMetric(pps, "presents/s")
	b.ReportMetric(xcores, "xvfb-cores")
	fmt.Fprintf(os.Stderr, "window %s: %.3f cores (Xvfb %.3f), %.1f presents/s\n", drv, cores, xcores, pps)
}

type imageFrame struct{ img *image.YCbCr }

func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// xvfbPID finds the Xvfb this process started (xvfbtest.Start; one at a
// time here).
func xvfbPID(b *testing.B) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(st)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if strings.Contains(s, "(Xvfb)") && f[1] == strconv.Itoa(os.Getpid()) {
			return pid
		}
	}
	b.Fatal("no Xvfb started by this process")
	return 0
}

// procCPU is the user+system CPU seconds of process pid.
func procCPU(pid int) float64 {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(st)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(f[11], 64)
	sy, _ := strconv.ParseFloat(f[12], 64)
	return (ut + sy) / 100 // USER_HZ
}
