package main

import (
	"log/slog"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// keepSysmonAwake re-executes this process once with GODEBUG extended so
// that the runtime's sysmon thread never deep-sleeps (sysmon.go). It
// returns only when it does not re-execute (already done, opted out, the
// machine up too long, or the exec failed).
func keepSysmonAwake(log *slog.Logger) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return
	}
	godebug, ok := sysmonGODEBUG(os.Getenv("GODEBUG"), time.Duration(ts.Nano()))
	if !ok {
		return
	}
	exe, err := os.Executable()
	if err == nil {
		err = syscall.Exec(exe, os.Args, withEnv(os.Environ(), "GODEBUG", godebug))
	}
	log.Debug("sysmon: no re-exec with GODEBUG schedtrace (sysmon deep-sleeps as usual)", "err", err)
}
