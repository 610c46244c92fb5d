package turn

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/stun/v4"
	pionturn "github.com/pion/turn/v5"

	"github.com/videochat/videochat/signal/proto"
)

// Server is a running TURN server. Close stops it.
type Server struct {
	cfg     Config
	log     *slog.Logger
	turn    *pionturn.Server
	tracker *tracker
	udp     net.Addr
	tcp     net.Addr

	closeOnce sync.Once
	closeErr  error
	closed    atomic.Bool
}

// New validates cfg, listens on its UDP and TCP addresses and starts
// serving TURN. Allocations are authenticated with TURN REST credentials
// made from cfg.Secret (see Credentials).
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, tracker: newTracker()}
	pconf, lconf, err := s.listen()
	if err != nil {
		s.tracker.closeAll()
		return nil, err
	}
	t, err := pionturn.NewServer(pionturn.ServerConfig{
		PacketConnConfigs: pconf,
		ListenerConfigs:   lconf,
		LoggerFactory:     loggerFactory{cfg.Logger},
		Realm:             cfg.Realm,
		AuthHandler:       s.authenticate,
	})
	if err != nil {
		s.tracker.closeAll()
		return nil, fmt.Errorf("turn: start: %w", err)
	}
	s.turn = t
	s.log.Info("TURN server listening", "udp", s.udp, "tcp", s.tcp, "public_ip", cfg.PublicIP,
		"realm", cfg.Realm, "allow_private", cfg.AllowPrivate)
	return s, nil
}

// listen opens the UDP socket and the TCP listener, both tracked.
func (s *Server) listen() ([]pionturn.PacketConnConfig, []pionturn.ListenerConfig, error) {
	gen := &relayGenerator{t: s.tracker, address: s.cfg.RelayAddress, publicIP: net.ParseIP(s.cfg.PublicIP)}
	perm := s.permit
	pc, err := net.ListenPacket("udp4", s.cfg.ListenUDP)
	if err != nil {
		return nil, nil, fmt.Errorf("turn: listen udp %s: %w", s.cfg.ListenUDP, err)
	}
	s.udp = pc.LocalAddr()
	tpc, err := s.tracker.packetConn(pc)
	if err != nil {
		return nil, nil, err
	}
	l, err := net.Listen("tcp4", s.cfg.ListenTCP)
	if err != nil {
		return nil, nil, fmt.Errorf("turn: listen tcp %s: %w", s.cfg.ListenTCP, err)
	}
	s.tcp = l.Addr()
	tl, err := s.tracker.listener(l)
	if err != nil {
		return nil, nil, err
	}
	return []pionturn.PacketConnConfig{{PacketConn: tpc, RelayAddressGenerator: gen, PermissionHandler: perm}},
		[]pionturn.ListenerConfig{{Listener: tl, RelayAddressGenerator: gen, PermissionHandler: perm}}, nil
}

// authenticate is pion's AuthHandler: it accepts well-formed TURN REST
// usernames and returns the long-term key of their password. A forged
// password then fails pion's MESSAGE-INTEGRITY check; both refusals answer
// 401 Unauthorized. The expiry in the username bounds when an allocation
// may be made, not how long it lives: the client keeps refreshing it and
// creating permissions with the same credentials for as long as its call
// lasts, and an allocation only ever serves the 5-tuple that made it.
func (s *Server) authenticate(ra *pionturn.RequestAttributes) (peerID string, key []byte, ok bool) {
	expiry, peerID, err := ParseUsername(ra.Username)
	if err != nil {
		s.log.Info("TURN auth refused", "src", ra.SrcAddr, "reason", err)
		return "", nil, false
	}
	if ra.Method == stun.MethodAllocate && !time.Now().Before(expiry) {
		s.log.Info("TURN auth refused", "src", ra.SrcAddr, "reason", "credentials expired", "expiry", expiry)
		return "", nil, false
	}
	return peerID, pionturn.GenerateAuthKey(ra.Username, ra.Realm, Password(s.cfg.Secret, ra.Username)), true
}

// permit is pion's PermissionHandler, called for CreatePermission and
// ChannelBind: it refuses non-public peers unless AllowPrivate.
func (s *Server) permit(client net.Addr, peer net.IP) bool {
	if s.cfg.AllowPrivate || PublicPeer(peer) {
		return true
	}
	s.log.Info("TURN permission refused: peer address is not public", "client", client, "peer", peer)
	return false
}

// Addrs returns the UDP and TCP addresses the server listens on.
func (s *Server) Addrs() (udp, tcp net.Addr) { return s.udp, s.tcp }

// Allocations returns the number of live allocations; 0 once closed.
func (s *Server) Allocations() int {
	if s.closed.Load() {
		return 0
	}
	return s.turn.AllocationCount()
}

// Secret returns the shared secret (the configured or generated one).
func (s *Server) Secret() []byte { return s.cfg.Secret }

// URLs returns the server's TURN URLs as clients reach it: the public IP
// with the listen ports, over UDP and over TCP.
func (s *Server) URLs() []string {
	return []string{
		"turn:" + hostPort(s.cfg.PublicIP, s.udp) + "?transport=udp",
		"turn:" + hostPort(s.cfg.PublicIP, s.tcp) + "?transport=tcp",
	}
}

// ICEServers returns, for each peer, this server's URLs with fresh
// credentials valid for the configured TTL. It is meant for
// signal.Config.ICEServers.
func (s *Server) ICEServers(peerID string) []proto.ICEServer {
	user, pass := Credentials(s.cfg.Secret, peerID, s.cfg.TTL, time.Now())
	return []proto.ICEServer{{URLs: s.URLs(), Username: user, Credential: pass}}
}

func hostPort(ip string, a net.Addr) string {
	port := 0
	switch a := a.(type) {
	case *net.UDPAddr:
		port = a.Port
	case *net.TCPAddr:
		port = a.Port
	}
	return net.JoinHostPort(ip, strconv.Itoa(port))
}

// Close stops the server: it closes the listeners, every TCP connection
// and every relay socket, and returns once all of pion's reading loops
// have ended. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		err := s.turn.Close()
		s.tracker.closeAll()
		if err != nil && !errors.Is(err, net.ErrClosed) {
			s.closeErr = fmt.Errorf("turn: close: %w", err)
		}
		s.log.Info("TURN server closed")
	})
	return s.closeErr
}
