// Package turn is videochat's embedded TURN server (pion/turn) and the TURN
// REST credential scheme it shares with coturn's use-auth-secret mode: a
// username "<unix-expiry>:<peer id>" and the password
// base64(HMAC-SHA1(secret, username)).
package turn

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"
)

// Defaults used by New for zero Config fields.
const (
	DefaultListen = "0.0.0.0:3478"
	DefaultRealm  = "videochat"
	DefaultTTL    = time.Hour
	// SecretSize is the length of a generated secret, in bytes.
	SecretSize = 32
)

// Config configures a Server. Zero fields select their defaults.
type Config struct {
	// ListenUDP and ListenTCP are the addresses the server listens on for
	// TURN over UDP and over TCP (default DefaultListen each). Port 0 picks
	// a free port; see Server.Addrs.
	ListenUDP, ListenTCP string

	// PublicIP is the IP address put in relayed candidates, the one peers
	// send to. Empty selects the listen address's IP when it is specific,
	// otherwise the machine's first global unicast IPv4 address.
	PublicIP string

	// Realm is the TURN realm (default DefaultRealm).
	Realm string

	// Secret is the TURN REST shared secret. Empty generates SecretSize
	// random bytes; read it back with Server.Secret.
	Secret []byte

	// TTL is the lifetime of credentials made by Server.ICEServers
	// (default DefaultTTL).
	TTL time.Duration

	// AllowPrivate permits relaying to loopback, private, link-local and
	// other non-public addresses. Only tests and closed networks want it.
	AllowPrivate bool

	// RelayAddress is the local IP address relay sockets are bound to
	// (default 0.0.0.0).
	RelayAddress string

	// Logger receives the server's log; nil discards it.
	Logger *slog.Logger
}

// withDefaults validates c and returns a copy with defaults filled in.
func (c Config) withDefaults() (Config, error) {
	if c.ListenUDP == "" {
		c.ListenUDP = DefaultListen
	}
	if c.ListenTCP == "" {
		c.ListenTCP = DefaultListen
	}
	if c.Realm == "" {
		c.Realm = DefaultRealm
	}
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.TTL < 0 {
		return Config{}, errors.New("turn config: TTL must not be negative")
	}
	if c.RelayAddress == "" {
		c.RelayAddress = "0.0.0.0"
	}
	if _, err := netip.ParseAddr(c.RelayAddress); err != nil {
		return Config{}, fmt.Errorf("turn config: relay address %q is not an IP address", c.RelayAddress)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if len(c.Secret) == 0 {
		c.Secret = make([]byte, SecretSize)
		_, _ = rand.Read(c.Secret) // crypto/rand.Read never returns an error.
	}
	ip, err := publicIP(c.PublicIP, c.ListenUDP)
	if err != nil {
		return Config{}, err
	}
	c.PublicIP = ip.String()
	return c, nil
}

// publicIP returns the configured public IP, or a guess from the listen
// address and the machine's interfaces.
func publicIP(configured, listen string) (netip.Addr, error) {
	if configured != "" {
		ip, err := netip.ParseAddr(configured)
		if err != nil || ip.IsUnspecified() {
			return netip.Addr{}, fmt.Errorf("turn config: public IP %q is not a usable IP address", configured)
		}
		return ip.Unmap(), nil
	}
	if host, _, err := net.SplitHostPort(listen); err == nil {
		if ip, err := netip.ParseAddr(host); err == nil && !ip.IsUnspecified() {
			return ip.Unmap(), nil
		}
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("turn config: no public IP given and listing interfaces failed: %w", err)
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() && p.Addr().IsGlobalUnicast() {
			return p.Addr(), nil
		}
	}
	return netip.Addr{}, errors.New("turn config: no public IP given and no global IPv4 address found; set PublicIP")
}
