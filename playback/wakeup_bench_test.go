package playback

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/pulsetest"
)

// BenchmarkPlaybackWakeups: how often the playback path wakes, with two
// remote streams (a 20 ms Opus frame each every 20 ms) mixed and played
// on a PulseAudio null sink through malgo, and without a device (the
// clock of --speaker none). Reported per second over b.N seconds: the
// output's pulls (Mixer.Read, for the device a cgo callback from
// miniaudio's thread into Go), the process's context switches, and its
// CPU.
//
//	go test ./playback -run '^$' -bench PlaybackWakeups -benchtime 5x
func BenchmarkPlaybackWakeups(b *testing.B) {
	for _, spk := range []string{"pulse", SpeakerNone} {
		b.Run("speaker="+spk, func(b *testing.B) {
			cfg := Config{Speaker: SpeakerNone}
			if spk == "pulse" {
				srv := pulsetest.Start(b, pulsetest.Sink{Name: "spk"})
				srv.Setenv(b)
				cfg.Speaker = "spk"
			}
			p, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			var senders []*toneSender
			var streams []*Stream
			for i, id := range []string{"a", "b"} {
				st, err := p.AddStream(Track{PeerID: id, PeerName: id, PayloadType: 111})
				if err != nil {
					b.Fatal(err)
				}
				defer st.Close()
				streams = append(streams, st)
				senders = append(senders, newToneSender(b, 440+220*float64(i)))
			}
			waitPulling(b, p.Mixer)
			reads0, cs0, cpu0 := p.Reads(), ctxSwitches(b), cpuTime()
			start := time.Now()
			b.ResetTimer()
			tick := time.NewTicker(20 * time.Millisecond)
			for range b.N * 50 {
				<-tick.C
				for i, st := range streams {
					st.WriteRTP(senders[i].next(b))
				}
			}
			tick.Stop()
			b.StopTimer()
			el := time.Since(start).Seconds()
			b.ReportMetric(float64(p.Reads()-reads0)/el, "pulls/s")
			b.ReportMetric(float64(ctxSwitches(b)-cs0)/el, "ctxsw/s")
			b.ReportMetric((cpuTime()-cpu0).Seconds()/el, "cores")
		})
	}
}

// ctxSwitches is the context switches of all the process's threads.
func ctxSwitches(b *testing.B) uint64 {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		b.Fatal(err)
	}
	var n uint64
	for _, t := range tasks {
		st, err := os.ReadFile("/proc/self/task/" + t.Name() + "/status")
		if err != nil {
			continue // the thread ended
		}
		for _, l := range strings.Split(string(st), "\n") {
			if f := strings.Fields(l); len(f) == 2 && strings.HasSuffix(f[0], "ctxt_switches:") {
				v, _ := strconv.ParseUint(f[1], 10, 64)
				n += v
			}
		}
	}
	return n
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
