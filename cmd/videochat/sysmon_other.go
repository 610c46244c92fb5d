//go:build !linux

package main

import "log/slog"

// keepSysmonAwake: only Linux re-executes (sysmon.go).
func keepSysmonAwake(*slog.Logger) {}
