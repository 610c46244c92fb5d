// Package signalbench is a loopback load generator for videochat's
// signalling server (`videochat bench signal`). It connects and joins many
// peers in rooms, measures the server's memory per idle peer, then makes
// every peer send directed candidate messages to a room-mate at a paced
// rate and measures the relay latency, throughput, errors and evictions,
// at one load or a sweep of loads. It also starts the server (and Redis)
// as child processes pinned to their own CPU, and draws an SVG plot.
package signalbench

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Defaults used by Run for zero Config fields.
const (
	DefaultPeers           = 1000
	DefaultRoomSize        = 5
	DefaultRate            = 10
	DefaultDuration        = 10 * time.Second
	DefaultIdle            = 2 * time.Second
	DefaultJoinConcurrency = 32
	DefaultProbes          = 200
	DefaultTick            = 2 * time.Millisecond
	DefaultShards          = 4
	DefaultDrain           = 3 * time.Second
	DefaultJoinTimeout     = 10 * time.Second
	DefaultPeersPerAddr    = 16
)

// Config describes one benchmark run.
type Config struct {
	// Peers is the number of connected peers (default 1000).
	Peers int
	// RoomSize is the number of peers per room (default 5; at least 2 so
	// that every peer has a room-mate to send to).
	RoomSize int
	// Rate is the number of directed messages per second each peer sends
	// (default 10). Ignored when Sweep is set.
	Rate float64
	// Sweep, when set, runs one load step per entry, each offering that
	// many messages per second in total, spread over all peers.
	Sweep []float64
	// Duration is the length of each load step (default 10 s).
	Duration time.Duration
	// Idle is how long the peers sit idle before the server's memory is
	// measured (default 2 s).
	Idle time.Duration
	// JoinConcurrency is the number of joins in flight while connecting
	// (default 32).
	JoinConcurrency int
	// Probes is the number of joins made one at a time after all peers are
	// connected, to measure join latency on a loaded server (default 200;
	// negative disables them).
	Probes int
	// Tick is the senders' pacing interval (default 2 ms).
	Tick time.Duration
	// Shards is the number of sender goroutines (default 4).
	Shards int
	// Drain is how long a step waits for messages still in flight after
	// the senders stop (default 3 s).
	Drain time.Duration
	// JoinTimeout bounds each connect and join (default 10 s).
	JoinTimeout time.Duration
	// PeersPerAddr is the number of peers that connect from each loopback
	// source address (default 16; the server allows 32 per address by
	// default).
	PeersPerAddr int
	// RoomPrefix starts every room name; default "bench-" and a random tag,
	// so that runs against the same server do not share rooms.
	RoomPrefix string
	// Logger receives progress; nil discards it.
	Logger *slog.Logger
}

// withDefaults validates c and fills in defaults.
func (c Config) withDefaults() (Config, error) {
	if c.Peers < 0 || c.RoomSize < 0 || c.Rate < 0 || c.Duration < 0 || c.Idle < 0 ||
		c.JoinConcurrency < 0 || c.Tick < 0 || c.Shards < 0 || c.Drain < 0 || c.JoinTimeout < 0 || c.PeersPerAddr < 0 {
		return Config{}, errors.New("signalbench: sizes, rates and durations must not be negative")
	}
	for _, r := range c.Sweep {
		if r <= 0 {
			return Config{}, fmt.Errorf("signalbench: sweep rate %v must be positive", r)
		}
	}
	setDefault(&c.Peers, DefaultPeers)
	setDefault(&c.RoomSize, DefaultRoomSize)
	setDefault(&c.Rate, DefaultRate)
	setDefault(&c.Duration, DefaultDuration)
	setDefault(&c.Idle, DefaultIdle)
	setDefault(&c.JoinConcurrency, DefaultJoinConcurrency)
	setDefault(&c.Probes, DefaultProbes)
	setDefault(&c.Tick, DefaultTick)
	setDefault(&c.Shards, DefaultShards)
	setDefault(&c.Drain, DefaultDrain)
	setDefault(&c.JoinTimeout, DefaultJoinTimeout)
	setDefault(&c.PeersPerAddr, DefaultPeersPerAddr)
	if c.RoomSize < 2 {
		return Config{}, errors.New("signalbench: RoomSize must be at least 2")
	}
	if c.RoomPrefix == "" {
		c.RoomPrefix = fmt.Sprintf("bench-%x-", time.Now().UnixNano()&0xffffff)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// steps returns the total offered rate of each load step.
func (c Config) steps() []float64 {
	if len(c.Sweep) > 0 {
		return c.Sweep
	}
	return []float64{c.Rate * float64(c.Peers)}
}

// Budget is a generous upper bound on how long a run of c takes; the
// command uses a multiple of it as its hard cap.
func (c Config) Budget() time.Duration {
	c, err := c.withDefaults()
	if err != nil {
		return time.Minute
	}
	steps := time.Duration(len(c.steps()))
	joins := time.Duration(c.Peers+max(c.Probes, 0)) * time.Millisecond
	return joins + c.Idle + steps*(c.Duration+c.Drain+time.Second) + 30*time.Second
}

func setDefault[T int | float64 | time.Duration](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}

// Target is the server under test.
type Target struct {
	// URL is the server's base URL, http://host:port; rooms are at
	// /ws/{room}.
	URL string
	// RSS, CPU and Goroutines read the server's resident memory in bytes,
	// its total CPU time and its goroutine count; Shed the number of
	// messages it has shed under its relay cap so far. A nil func, or one
	// that fails, leaves the figure out of the report.
	RSS        func() (int64, error)
	CPU        func() (time.Duration, error)
	Goroutines func() (int, error)
	Shed       func() (int, error)
}
