package capture

import (
	"fmt"
	"log/slog"
	"syscall"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/pulsetest"
)

// BenchmarkMicrophoneCPU: the whole process's CPU (cores) while the
// microphone path reads a 44.1 kHz mono PulseAudio source (a remapped
// null-sink monitor playing a 440 Hz tone, as in BENCHMARKS.md) in real
// time: PulseAudio client thread, callback, mixdown, 44.1 → 48 kHz
// resampling, 20 ms chunks. One iteration is 10 s of audio; per capture
// period.
//
//	CI=true go test -run '^$' -bench MicrophoneCPU -benchtime 1x ./capture/
func BenchmarkMicrophoneCPU(b *testing.B) {
	pa := pulsetest.Start(b, pulsetest.Sink{Name: "vsink", Rate: 44100, Channels: 1})
	pa.AddMicrophone("vmic", "vsink")
	pa.Play("vsink", 44100, 1, "3600", "sine", "440", "gain", "-6")
	pa.Setenv(b)
	for _, period := range []int{10, 20, 40} {
		b.Run(fmt.Sprintf("period=%dms", period), func(b *testing.B) {
			s, err := openMicrophonePeriod("vmic", slog.New(slog.DiscardHandler), nil, period)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			for range 50 { // 1 s to settle
				if _, _, err := s.Read(); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			var cpu time.Duration
			var wall time.Duration
			for range b.N {
				c0, t0 := processCPU(), time.Now()
				for range 500 { // 10 s
					if _, _, err := s.Read(); err != nil {
						b.Fatal(err)
					}
				}
				cpu += processCPU() - c0
				wall += time.Since(t0)
			}
			b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cores")
		})
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
