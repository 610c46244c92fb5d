package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/videochat/videochat/signal"
	"github.com/videochat/videochat/signal/token"
)

// limitFlags are serve's abuse limits, auth and resume settings.
type limitFlags struct {
	messageRate   float64
	messageBurst  int
	relayRate     float64
	relayBurst    int
	maxConnsPerIP int
	maxRooms      int
	handshake     time.Duration
	tokenSecret   string
	resumeSecret  string
	resumeGrace   time.Duration
	returnMemory  time.Duration
}

func (f *limitFlags) register(fl *pflag.FlagSet) {
	fl.Float64Var(&f.messageRate, "message-rate", signal.DefaultMessageRate, "signalling messages per second per connection (token bucket; -1: unlimited)")
	fl.IntVar(&f.messageBurst, "message-burst", signal.DefaultMessageBurst, "burst of the per-connection message rate")
	fl.Float64Var(&f.relayRate, "relay-rate", 0, "server-wide cap on relayed offers, answers and candidates per second: the excess is dropped with an overloaded error (0: no cap, an overload queues instead; see BENCHMARKS.md)")
	fl.IntVar(&f.relayBurst, "relay-burst", 0, "burst of the relay cap (default: a tenth of --relay-rate)")
	fl.IntVar(&f.maxConnsPerIP, "max-conns-per-ip", signal.DefaultMaxConnsPerIP, "WebSocket connections per client IP (-1: unlimited; raise it behind a reverse proxy)")
	fl.IntVar(&f.maxRooms, "max-rooms", signal.DefaultMaxRooms, "rooms per server (-1: unlimited)")
	fl.DurationVar(&f.handshake, "handshake-timeout", signal.DefaultHandshakeTimeout, "time a new connection has to send its join")
	fl.StringVar(&f.tokenSecret, "token-secret", os.Getenv("VIDEOCHAT_TOKEN_SECRET"), "require signed room tokens (JWT HS256, see `videochat token`) made with this secret (env VIDEOCHAT_TOKEN_SECRET)")
	fl.StringVar(&f.resumeSecret, "resume-secret", os.Getenv("VIDEOCHAT_RESUME_SECRET"), "key for resume tokens; set it (or --token-secret) so clients keep their ids across a server restart (env VIDEOCHAT_RESUME_SECRET; default: random per start)")
	fl.DurationVar(&f.resumeGrace, "resume-grace", signal.DefaultResumeGrace, "how long a dropped client keeps its place before the others see it leave")
	fl.DurationVar(&f.returnMemory, "return-memory-after", time.Second, "after a burst of connections, return freed memory to the OS once none has come or gone for this long (0: never)")
}

// apply copies the flags into cfg.
func (f *limitFlags) apply(cfg *signal.Config) error {
	cfg.MessageRate = f.messageRate
	cfg.MessageBurst = f.messageBurst
	cfg.RelayRate = f.relayRate
	cfg.RelayBurst = f.relayBurst
	cfg.MaxConnsPerIP = f.maxConnsPerIP
	cfg.MaxRooms = f.maxRooms
	cfg.HandshakeTimeout = f.handshake
	cfg.ResumeGrace = f.resumeGrace
	if f.returnMemory < 0 {
		return withCode(exitUsage, fmt.Errorf("--return-memory-after %v: must not be negative", f.returnMemory))
	}
	if f.tokenSecret != "" {
		v, err := token.NewVerifier([]byte(f.tokenSecret))
		if err != nil {
			return withCode(exitUsage, fmt.Errorf("--token-secret: %w", err))
		}
		cfg.Tokens = v
	}
	switch {
	case f.resumeSecret != "":
		cfg.ResumeSecret = []byte(f.resumeSecret)
	case f.tokenSecret != "":
		cfg.ResumeSecret = derive(f.tokenSecret, "videochat resume v1")
	}
	return nil
}

// derive makes a purpose-specific key from a secret, so the token secret
// itself never signs resume tokens.
func derive(secret, purpose string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(purpose))
	return m.Sum(nil)
}
