// Package doctor diagnoses a videochat deployment from a client's point of
// view: it joins a room on the signalling server, reads the ICE servers the
// welcome message hands out, and gathers ICE candidates against each STUN
// and TURN server over each transport, reporting which paths work.
package doctor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
)

// DefaultTimeout bounds each check when Config.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// Config configures Run.
type Config struct {
	// Server is the videochat server's base URL: http(s)://host[:port] or
	// ws(s)://host[:port]. The WebSocket is at /ws/{room} below it.
	Server string
	// Room is the room joined for the check (default "doctor-<random>").
	Room string
	// Timeout bounds the join and each candidate gathering (default
	// DefaultTimeout).
	Timeout time.Duration
	// SettingEngine, if set, configures the ICE networking of every
	// PeerConnection (tests restrict it to loopback and disable mDNS).
	SettingEngine func(*webrtc.SettingEngine)
	// Logger receives progress; nil discards it.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Room == "" {
		b := make([]byte, 4)
		_, _ = rand.Read(b) // crypto/rand.Read never returns an error.
		c.Room = "doctor-" + hex.EncodeToString(b)
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Run checks the server: the WebSocket and join first, then every ICE path
// of the welcome's ICE servers, concurrently. It always returns a Report;
// Report.OK tells whether everything configured works.
func Run(ctx context.Context, cfg Config) Report {
	cfg = cfg.withDefaults()
	r := Report{Server: cfg.Server, Room: cfg.Room}
	servers, join := checkJoin(ctx, cfg)
	r.Join = join
	if !join.OK {
		return r
	}
	paths := pathsOf(servers)
	if len(paths) == 0 {
		r.Notes = append(r.Notes, "the server hands out no STUN or TURN servers: only host candidates, "+
			"so peers behind different NATs will not connect (configure serve --ice-server or --turn)")
	}
	r.Paths = make([]PathResult, len(paths))
	var wg sync.WaitGroup
	for i, p := range paths {
		wg.Go(func() { r.Paths[i] = checkPath(ctx, cfg, p) })
	}
	wg.Wait()
	r.OK = true
	for _, p := range r.Paths {
		r.OK = r.OK && p.OK
	}
	return r
}
