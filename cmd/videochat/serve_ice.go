package main

import (
	"fmt"
	"log/slog"
	"net"

	"github.com/spf13/pflag"

	"github.com/videochat/videochat/signal/proto"
	"github.com/videochat/videochat/signal/turn"
)

// iceFlags configure the STUN/TURN servers handed to every client, and the
// embedded TURN server.
type iceFlags struct {
	servers      []string
	turn         bool
	turnListen   string
	publicIP     string
	realm        string
	secret       string
	allowPrivate bool
}

func (f *iceFlags) register(fl *pflag.FlagSet) {
	fl.StringArrayVar(&f.servers, "ice-server", nil, "STUN/TURN server sent to every client, repeatable: stun:HOST:PORT, turn:HOST:PORT?transport=udp|tcp, turns:…; static credentials as turn:USER:PASS@HOST:PORT, else TURN REST credentials from --turn-secret")
	fl.BoolVar(&f.turn, "turn", false, "run the embedded TURN server (UDP and TCP)")
	fl.StringVar(&f.turnListen, "turn-listen", turn.DefaultListen, "embedded TURN listen address (UDP and TCP)")
	fl.StringVar(&f.publicIP, "turn-public-ip", "", "public IP the embedded TURN server advertises (default: the listen IP, else the first global IPv4)")
	fl.StringVar(&f.realm, "turn-realm", "videochat", "TURN realm")
	fl.StringVar(&f.secret, "turn-secret", "", "shared secret for TURN REST credentials (embedded server or an external coturn with use-auth-secret); generated at start when empty")
	fl.BoolVar(&f.allowPrivate, "turn-allow-private", false, "let the embedded TURN server relay to loopback, private and link-local addresses (tests, LANs)")
}

// setup starts the embedded TURN server if asked and returns the per-peer
// ICE server list for welcome messages (nil when none are configured) and
// the TURN server to close on shutdown (nil when not running).
func (f *iceFlags) setup(log *slog.Logger) (func(string) []proto.ICEServer, *turn.Server, error) {
	urls := append([]string(nil), f.servers...)
	secret := []byte(f.secret)
	var ts *turn.Server
	if f.turn {
		var err error
		ts, err = turn.New(turn.Config{
			ListenUDP:    f.turnListen,
			ListenTCP:    f.turnListen,
			PublicIP:     f.publicIP,
			Realm:        f.realm,
			Secret:       secret,
			AllowPrivate: f.allowPrivate,
			Logger:       log.With("component", "turn"),
		})
		if err != nil {
			return nil, nil, withCode(exitError, fmt.Errorf("--turn: %w", err))
		}
		urls = append(urls, ts.URLs()...)
		secret = ts.Secret()
		udp, tcp := ts.Addrs()
		log.Info("turn server", "udp", udp.String(), "tcp", tcp.String(), "urls", ts.URLs())
		if host, _, _ := net.SplitHostPort(f.turnListen); f.publicIP == "" && (host == "" || net.ParseIP(host).IsUnspecified()) {
			log.Warn("turn: no --turn-public-ip; advertising a guessed address, which is wrong behind NAT", "urls", ts.URLs())
		}
	}
	if len(urls) == 0 {
		return nil, nil, nil
	}
	ice, err := turn.ICEServers(urls, secret, turn.DefaultTTL)
	if err != nil {
		if ts != nil {
			_ = ts.Close()
		}
		return nil, nil, withCode(exitUsage, fmt.Errorf("--ice-server: %w", err))
	}
	return ice, ts, nil
}
