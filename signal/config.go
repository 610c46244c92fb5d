package signal

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/videochat/videochat/signal/proto"
)

// Defaults used by New for zero Config fields.
const (
	DefaultMaxPeers         = 8
	DefaultSendQueue        = 256
	DefaultPingInterval     = 20 * time.Second
	DefaultWriteWait        = 10 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultBackendTimeout   = 5 * time.Second
	DefaultCloseGrace       = 2 * time.Second
)

// Config configures a Server. The zero value of every field selects its
// default; negative durations and sizes are rejected by New.
type Config struct {
	// Backend keeps room membership and delivers frames. Nil selects a
	// MemoryBackend owned by the Server (closed by Shutdown); a Backend
	// passed in is owned, and closed, by the caller.
	Backend Backend

	// MaxPeers is the capacity of each room (default 8).
	MaxPeers int

	// AllowedOrigins lists extra Origin values accepted at the WebSocket
	// handshake, as scheme://host[:port]. An Origin whose host equals the
	// request's Host is always accepted, and so is a request without an
	// Origin header (non-browser clients). "*" accepts any Origin.
	AllowedOrigins []string

	// ReadLimit is the largest frame the server reads (default
	// proto.MaxFrameSize, 64 KiB). A larger frame closes the connection with
	// close code 1009 (message too big).
	ReadLimit int64

	// SendQueue is the number of frames queued per connection (default
	// 256). A connection whose queue is full is evicted as a slow consumer.
	SendQueue int

	// PingInterval is how often the server pings each client (default 20 s).
	PingInterval time.Duration
	// PongWait is how long the server waits for any frame or pong before it
	// drops the connection (default 2*PingInterval + WriteWait). It must be
	// longer than PingInterval.
	PongWait time.Duration
	// WriteWait bounds every write to a client (default 10 s).
	WriteWait time.Duration

	// HandshakeTimeout is how long a new connection may take to send its
	// join message (default 10 s). Past it the server sends a
	// handshake-timeout error and closes the connection.
	HandshakeTimeout time.Duration

	// BackendTimeout bounds each Backend call (default 5 s).
	BackendTimeout time.Duration

	// CloseGrace is how long the server waits for a client to answer its
	// close frame before it drops the TCP connection (default 2 s).
	CloseGrace time.Duration

	// ICEServers, if set, returns the STUN/TURN servers put in the welcome
	// message of peer peerID.
	ICEServers func(peerID string) []proto.ICEServer

	// Logger receives the server's log; nil discards it.
	Logger *slog.Logger
}

// withDefaults validates c and returns a copy with defaults filled in.
func (c Config) withDefaults() (Config, error) {
	if err := c.validate(); err != nil {
		return Config{}, err
	}
	setDefault(&c.MaxPeers, DefaultMaxPeers)
	setDefault(&c.ReadLimit, proto.MaxFrameSize)
	setDefault(&c.SendQueue, DefaultSendQueue)
	setDefault(&c.PingInterval, DefaultPingInterval)
	setDefault(&c.WriteWait, DefaultWriteWait)
	setDefault(&c.PongWait, 2*c.PingInterval+c.WriteWait)
	setDefault(&c.HandshakeTimeout, DefaultHandshakeTimeout)
	setDefault(&c.BackendTimeout, DefaultBackendTimeout)
	setDefault(&c.CloseGrace, DefaultCloseGrace)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.PongWait <= c.PingInterval {
		return Config{}, fmt.Errorf("signal config: PongWait (%v) must be longer than PingInterval (%v)", c.PongWait, c.PingInterval)
	}
	origins, err := normalizeOrigins(c.AllowedOrigins)
	if err != nil {
		return Config{}, err
	}
	c.AllowedOrigins = origins
	return c, nil
}

// validate rejects negative sizes and durations.
func (c Config) validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"MaxPeers", int64(c.MaxPeers)},
		{"ReadLimit", c.ReadLimit},
		{"SendQueue", int64(c.SendQueue)},
		{"PingInterval", int64(c.PingInterval)},
		{"PongWait", int64(c.PongWait)},
		{"WriteWait", int64(c.WriteWait)},
		{"HandshakeTimeout", int64(c.HandshakeTimeout)},
		{"BackendTimeout", int64(c.BackendTimeout)},
		{"CloseGrace", int64(c.CloseGrace)},
	} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("signal config: %s must not be negative", f.name))
		}
	}
	return errors.Join(errs...)
}

func setDefault[T int | int64 | time.Duration](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}

// normalizeOrigins checks each allowed origin and returns them lower-cased
// as scheme://host[:port]; "*" is kept as is.
func normalizeOrigins(in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	for _, o := range in {
		o = strings.TrimSpace(o)
		if o == "*" {
			out = append(out, o)
			continue
		}
		u, err := url.Parse(o)
		if err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			return nil, fmt.Errorf("signal config: allowed origin %q is not of the form scheme://host[:port]", o)
		}
		out = append(out, strings.ToLower(u.Scheme+"://"+u.Host))
	}
	return out, nil
}
