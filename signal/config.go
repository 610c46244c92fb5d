package signal

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/videochat/videochat/signal/proto"
	"github.com/videochat/videochat/signal/token"
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
	DefaultMessageRate      = 50
	DefaultMessageBurst     = 200
	DefaultMaxDropped       = 100
	DefaultMaxConnsPerIP    = 32
	DefaultMaxRooms         = 10000
	DefaultResumeGrace      = 10 * time.Second
	DefaultResumeTTL        = 24 * time.Hour
)

// Unlimited switches off a limit that accepts it (MessageRate,
// MaxConnsPerIP, MaxRooms).
const Unlimited = -1

// RateWindow is the window over which dropped messages are counted: a
// connection that has more than MaxDropped messages dropped within one
// window is closed.
const RateWindow = 10 * time.Second

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

	// MessageRate is the number of messages per second a connection may
	// send on average (default 50), MessageBurst the number it may send at
	// once (default 200): a token bucket. A message over the limit is
	// dropped and the connection gets a rate-limited error (the first drop
	// in each RateWindow only); more than MaxDropped drops (default 100)
	// within one RateWindow close it with 1008, reason rate-limited.
	// MessageRate Unlimited switches the limit off.
	MessageRate  float64
	MessageBurst int
	MaxDropped   int

	// RelayRate caps the directed messages (offer, answer, candidate) the
	// server relays per second across all its connections, RelayBurst is
	// the cap's bucket depth (default RelayRate/10, at least 1). A message
	// over the cap is dropped, and its sender gets an overloaded error for
	// the first drop in each RateWindow. Without a cap (0, the default, or Unlimited) a
	// server past its capacity queues instead: every message is relayed,
	// later and later. Set it a little below what "videochat bench signal"
	// measures on the server's machine, so that an overload is shed.
	RelayRate  float64
	RelayBurst int

	// MaxConnsPerIP caps the WebSocket connections open at once from one
	// remote IP address (default 32; Unlimited switches it off). Past it the
	// handshake is answered with HTTP 429 and no upgrade. Behind a reverse
	// proxy every client has the proxy's address: raise it or switch it off.
	MaxConnsPerIP int

	// MaxRooms caps the rooms with peers on this server (default 10000;
	// Unlimited switches it off). A join that would open one more room gets
	// a room-limit error and close 1013.
	MaxRooms int

	// Tokens, when set, makes every join carry a room token (the join's
	// "token" field) that it accepts for the room; otherwise the join gets an
	// unauthorized error and close 1008. The token's name replaces the name
	// in the join. Nil runs an open server.
	Tokens *token.Verifier

	// ResumeGrace is how long the server keeps the session of a peer whose
	// connection dropped without a leave (default 10 s): the peer stays in
	// its room, frames for it are buffered, and a new connection that
	// presents the peer's resume token takes the session back. Past it the
	// peer leaves as usual.
	ResumeGrace time.Duration
	// DisableResume switches resume off: welcome carries no resume token
	// and a dropped connection leaves its room at once.
	DisableResume bool
	// ResumeSecret signs resume tokens (HMAC-SHA256). Servers that share
	// it accept each other's tokens, also across restarts. Nil selects a
	// random secret per Server.
	ResumeSecret []byte
	// ResumeTTL is how long a resume token stays valid (default 24 h).
	ResumeTTL time.Duration
	// ResumeBuffer is the number of frames buffered for a held session
	// (default SendQueue/2); one more ends the session as a leave. It must
	// be smaller than SendQueue.
	ResumeBuffer int

	// ICEServers, if set, returns the STUN/TURN servers put in the welcome
	// message of peer peerID.
	ICEServers func(peerID string) []proto.ICEServer

	// ConnChurn, when set, is called once each time a connection opens
	// (is accepted and tracked) and once when it closes, from the
	// connection's own goroutine and never while the server holds a lock
	// or after Shutdown returns. It must return at once. cmd/videochat uses
	// it to return memory to the OS after a burst of connections (serve
	// --return-memory-after): that policy is the process's, not the
	// library's.
	ConnChurn func()

	// Logger receives the server's log; nil discards it.
	Logger *slog.Logger

	// Metrics, when set, receives the server's Prometheus metrics (see
	// NewMetrics); with nil they are kept but not exported.
	Metrics *Metrics

	// plainWebSocket runs plain gorilla below the protocol, without the
	// transport tricks (wsconn.Config.Plain): for tests that compare.
	plainWebSocket bool
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
	setDefault(&c.MessageRate, DefaultMessageRate)
	setDefault(&c.MessageBurst, DefaultMessageBurst)
	setDefault(&c.MaxDropped, DefaultMaxDropped)
	if c.RelayRate > 0 {
		setDefault(&c.RelayBurst, max(1, int(c.RelayRate/10)))
	}
	setDefault(&c.MaxConnsPerIP, DefaultMaxConnsPerIP)
	setDefault(&c.MaxRooms, DefaultMaxRooms)
	setDefault(&c.ResumeGrace, DefaultResumeGrace)
	setDefault(&c.ResumeTTL, DefaultResumeTTL)
	setDefault(&c.ResumeBuffer, c.SendQueue/2)
	if c.ResumeBuffer >= c.SendQueue {
		return Config{}, fmt.Errorf("signal config: ResumeBuffer (%d) must be smaller than SendQueue (%d)", c.ResumeBuffer, c.SendQueue)
	}
	if len(c.ResumeSecret) == 0 {
		c.ResumeSecret = make([]byte, 32)
		_, _ = rand.Read(c.ResumeSecret) // crypto/rand.Read never returns an error.
	}
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

// validate rejects negative sizes and durations: every int, int64 and
// time.Duration field, where MaxConnsPerIP and MaxRooms may also be
// Unlimited, and the rates unless Unlimited.
func (c Config) validate() error {
	var errs []error
	v := reflect.ValueOf(c)
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		unlimitedOK := name == "MaxConnsPerIP" || name == "MaxRooms"
		switch f := v.Field(i); f.Kind() {
		case reflect.Int, reflect.Int64:
			if n := f.Int(); n < 0 && !(unlimitedOK && n == Unlimited) {
				errs = append(errs, fmt.Errorf("signal config: %s must not be negative", name))
			}
		}
	}
	if c.RelayRate < 0 && c.RelayRate != Unlimited {
		errs = append(errs, errors.New("signal config: RelayRate must not be negative (0 or Unlimited: no cap)"))
	}
	if c.MessageRate < 0 && c.MessageRate != Unlimited {
		errs = append(errs, errors.New("signal config: MessageRate must not be negative (Unlimited switches it off)"))
	}
	return errors.Join(errs...)
}

func setDefault[T int | int64 | float64 | time.Duration](v *T, def T) {
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

// checkOrigin is the Upgrader's CheckOrigin. It accepts a request without
// an Origin header (native clients send none), an Origin whose host equals
// the request's Host, and the configured allowed origins. Everything else is
// refused, and gorilla answers the handshake with 403 Forbidden.
func (s *Server) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	allowed := s.cfg.AllowedOrigins
	return slices.Contains(allowed, "*") ||
		slices.Contains(allowed, strings.ToLower(u.Scheme+"://"+u.Host))
}
