package main

// sysmon.go: join keeps the Go runtime's sysmon thread from deep-sleeping.
//
// Why. sysmon is the runtime's monitor thread. When every P is idle it
// parks (deep sleep); the next goroutine that makes a syscall or a cgo
// call wakes it and resets it to polling every 20 µs, for at least 50
// polls, before it slows down again to 10 ms. A call peer is idle most of
// the time and wakes hundreds of times a second (packets, timers, decodes,
// window polls), so sysmon spends its life in 20 µs polling. While it polls
// that fast it also takes the P away from a thread in a cgo call of only
// tens of microseconds (libvpx decodes a frame in ≈ 0.7 ms) whenever the
// other Ps are busy, and hands it to another thread: more thread switches.
// With sysmon never parked it polls every 10 ms and leaves such calls
// alone. BENCHMARKS.md ("Fifth follow-up" of the remote video view)
// measures what it saves the window viewer.
//
// How. The runtime has exactly one switch for it: GODEBUG schedtrace=N
// with N > 0 keeps sysmon out of deep sleep (so that it can print a
// scheduler trace every N ms). join re-executes itself once, before doing
// anything, with schedtrace set to its largest value, 2^31−1 ms (≈ 24.8
// days). The runtime prints a trace line only when its monotonic clock
// (time since boot, on Linux) reaches a multiple of N, so join does this
// only while the machine has been up less than N minus a week: a join
// still running when the clock reaches N prints one line to stderr, once.
//
// Invariants:
//   - At most one re-exec: the new process finds schedtrace in GODEBUG and
//     goes on. The same pid, arguments, environment (GODEBUG extended, never
//     replaced) and open files (stdin included: nothing was read yet).
//   - A GODEBUG that already names schedtrace is the user's choice and is
//     kept as it is: GODEBUG=schedtrace=0 opts out.
//   - If the re-exec cannot be done, join goes on as it is (debug log).

import (
	"strings"
	"time"
)

// schedtraceMax is the largest GODEBUG schedtrace period, in ms (int32).
const schedtraceMax = 1<<31 - 1

// schedtraceMargin: the machine must have been up less than
// schedtraceMax minus this, so that the one trace line can come only
// after a join has run that long.
const schedtraceMargin = 7 * 24 * time.Hour

// sysmonGODEBUG returns the GODEBUG value that keeps sysmon awake, made
// from the current one, or ok=false when the current one already sets
// schedtrace (the user's choice, or this process is the re-exec) or the
// machine has been up too long (uptime: its monotonic clock).
func sysmonGODEBUG(cur string, uptime time.Duration) (godebug string, ok bool) {
	for _, kv := range strings.Split(cur, ",") {
		if k, _, _ := strings.Cut(strings.TrimSpace(kv), "="); k == "schedtrace" {
			return "", false
		}
	}
	if uptime >= time.Duration(schedtraceMax)*time.Millisecond-schedtraceMargin {
		return "", false
	}
	set := "schedtrace=2147483647"
	if strings.TrimSpace(cur) != "" {
		set = cur + "," + set
	}
	return set, true
}

// withEnv returns environ with key set to value (an existing entry is
// replaced in place, else it is appended).
func withEnv(environ []string, key, value string) []string {
	out := make([]string, 0, len(environ)+1)
	found := false
	for _, kv := range environ {
		if strings.HasPrefix(kv, key+"=") {
			if !found {
				out = append(out, key+"="+value)
				found = true
			}
			continue
		}
		out = append(out, kv)
	}
	if !found {
		out = append(out, key+"="+value)
	}
	return out
}
