package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// logFlags are the logging flags every command shares.
type logFlags struct {
	level  string
	format string
}

func (f *logFlags) logger(w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(f.level)); err != nil {
		return nil, withCode(exitUsage, fmt.Errorf("--log-level %q: want debug, info, warn or error", f.level))
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(f.format) {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, withCode(exitUsage, fmt.Errorf("--log-format %q: want text or json", f.format))
	}
}
