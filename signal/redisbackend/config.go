package redisbackend

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults for the zero values of Config.
const (
	DefaultPresenceTTL = 15 * time.Second
	DefaultOpTimeout   = 2 * time.Second
)

// Config configures a Backend. The zero value of every field but URL picks
// a default.
type Config struct {
	// URL locates the Redis server: redis://[user:password@]HOST:PORT/DB.
	URL string
	// NodeID names this server process in Redis. Every process sharing a
	// Redis needs its own; "" picks a random one.
	NodeID string
	// PresenceTTL is how long this node's presence key lives without a
	// heartbeat. Heartbeats (and the reaping of dead nodes) run every
	// PresenceTTL/3, so a dead node's peers are announced peer-left by the
	// survivors at most about 4/3·PresenceTTL after its last heartbeat.
	// Default 15 s.
	PresenceTTL time.Duration
	// OpTimeout bounds every Redis call a Backend method makes, so that
	// joins and sends fail fast with signal.ErrUnavailable while Redis is
	// down or hanging. Default 2 s.
	OpTimeout time.Duration
	// Logger receives the backend's logs; nil discards them.
	Logger *slog.Logger
}

// withDefaults validates c and fills in its defaults.
func (c Config) withDefaults() (Config, error) {
	if c.URL == "" {
		return c, errors.New("redisbackend: Config.URL is empty")
	}
	if c.NodeID == "" {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return c, fmt.Errorf("redisbackend: node id: %w", err)
		}
		c.NodeID = hex.EncodeToString(b[:])
	}
	if c.PresenceTTL == 0 {
		c.PresenceTTL = DefaultPresenceTTL
	}
	if c.PresenceTTL < 30*time.Millisecond {
		return c, fmt.Errorf("redisbackend: PresenceTTL %v is too short", c.PresenceTTL)
	}
	if c.OpTimeout == 0 {
		c.OpTimeout = DefaultOpTimeout
	}
	if c.OpTimeout < 0 {
		return c, fmt.Errorf("redisbackend: negative OpTimeout %v", c.OpTimeout)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// heartbeat is the interval of heartbeats, reaping and subscription pings.
func (c Config) heartbeat() time.Duration { return c.PresenceTTL / 3 }

// redisOptions turns the URL into client options that fail fast: no
// retries (a retried join script could run twice), one quick redial, and
// dial, read, write and pool timeouts of OpTimeout.
func (c Config) redisOptions() (*redis.Options, error) {
	opt, err := redis.ParseURL(c.URL)
	if err != nil {
		return nil, fmt.Errorf("redisbackend: %w", err)
	}
	opt.MaxRetries = -1
	opt.DialTimeout = c.OpTimeout
	opt.ReadTimeout = c.OpTimeout
	opt.WriteTimeout = c.OpTimeout
	opt.PoolTimeout = c.OpTimeout
	opt.DialerRetries = 2
	opt.DialerRetryTimeout = 50 * time.Millisecond
	opt.ContextTimeoutEnabled = true
	opt.DisableIdentity = true
	return opt, nil
}
