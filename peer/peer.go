// Package peer is videochat's native WebRTC peer: it joins a room through
// the signalling server (protocol v1, see signal/proto), keeps one
// PeerConnection per remote peer with the same offer rules, trickle ICE and
// perfect negotiation as the browser client, sends the caller's tracks,
// reads and optionally records every remote track, carries chat on the
// pre-negotiated data channel and reports per-peer statistics.
//
// The package is pure Go: media sources come in as webrtc.TrackLocal values
// and the caller builds the *webrtc.API (codecs, interceptors, settings).
package peer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/videochat/videochat/signal/proto"
)

// outQueue is the capacity of the outgoing signalling queue. Messages are
// produced by pion callbacks, which must never block.
const outQueue = 1024

// Config configures a Peer.
type Config struct {
	// Server is the signalling server's base URL, e.g. http://127.0.0.1:8080.
	// The WebSocket URL ws(s)://host/ws/{room} is derived from it.
	Server string
	// Room and Name are the room to join and our display name.
	Room, Name string
	// API builds the PeerConnections: a MediaEngine with the codecs and
	// interceptors, and a SettingEngine. Required.
	API *webrtc.API
	// Tracks are added to every PeerConnection (the same objects for all).
	// A track that implements RequestKeyFrame() is asked for a key frame
	// whenever a receiver sends PLI or FIR.
	Tracks []webrtc.TrackLocal
	// ICEServers are used in addition to those in the welcome message.
	ICEServers []webrtc.ICEServer
	// RecordDir, when not empty, receives one WebM (VP8) or Matroska
	// (H.264) file per remote peer: DIR/<room>-<name>-<id>.webm|.mkv.
	RecordDir string
	// Logger receives the peer's logs; nil discards them.
	Logger *slog.Logger
	// OnChat, when set, is called for every chat line received. It may be
	// called from several goroutines and must not block.
	OnChat func(from proto.PeerInfo, text string)
	// OnEvent, when set, is called on room and connection changes. It may
	// be called from several goroutines and must not block.
	OnEvent func(Event)
	// ICERestartAfter is how long a connection we offered may stay
	// disconnected before we restart ICE; a failed connection restarts at
	// once. A restart that does not reconnect is retried after
	// ICERestartAfter, then twice as long each time (at most a minute).
	// Zero means DefaultICERestartAfter (5 s); negative disables automatic
	// restarts.
	ICERestartAfter time.Duration
}

// Peer is one native participant in a room. Create it with New and call
// Run once.
type Peer struct {
	cfg     Config
	log     *slog.Logger
	wsURL   string
	out     chan proto.Message
	started atomic.Bool

	mu      sync.Mutex
	self    proto.PeerInfo
	ice     []webrtc.ICEServer
	roster  map[string]proto.PeerInfo
	remotes map[string]*remote
	closing bool
	wg      sync.WaitGroup // remote teardowns in flight
}

// New validates cfg and returns a Peer ready to Run.
func New(cfg Config) (*Peer, error) {
	if cfg.API == nil {
		return nil, errors.New("peer: Config.API is required")
	}
	if !proto.ValidRoom(cfg.Room) {
		return nil, fmt.Errorf("peer: invalid room name %q", cfg.Room)
	}
	name, perr := proto.CleanName(cfg.Name)
	if perr != nil {
		return nil, fmt.Errorf("peer: name %q: %w", cfg.Name, perr)
	}
	cfg.Name = name
	if cfg.ICERestartAfter == 0 {
		cfg.ICERestartAfter = DefaultICERestartAfter
	}
	wsURL, err := signalURL(cfg.Server, cfg.Room)
	if err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Peer{
		cfg:     cfg,
		log:     log.With("component", "peer", "room", cfg.Room),
		wsURL:   wsURL,
		out:     make(chan proto.Message, outQueue),
		roster:  make(map[string]proto.PeerInfo),
		remotes: make(map[string]*remote),
	}, nil
}

// Self returns our own id and name once welcomed (zero before).
func (p *Peer) Self() proto.PeerInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.self
}

// Run joins the room and serves it until ctx is done or a fatal error
// occurs. When it returns everything is closed: the leave message was sent,
// every PeerConnection is closed, recordings are finalized and the peer's
// goroutines have stopped. A coded refusal by the server (room full, bad
// name, …) is returned as *proto.Error; a lost signalling connection wraps
// ErrSignallingLost. Cancelling ctx is a clean exit and returns nil.
func (p *Peer) Run(ctx context.Context) error {
	if !p.started.CompareAndSwap(false, true) {
		return ErrAlreadyRunning
	}
	sc, welcome, err := dialSignal(ctx, p.wsURL, p.cfg.Name, p.log)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	p.onWelcome(welcome)
	sc.start(p.out)
	err = p.serve(ctx, sc)
	sc.close(err == nil)
	p.closeAll()
	return err
}

// serve is the main loop: signalling messages and the once-a-second rate
// update. It returns nil when ctx is done.
func (p *Peer) serve(ctx context.Context, sc *sigConn) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-sc.in:
			if !ok {
				return sc.err()
			}
			if err := p.handle(m); err != nil {
				return err
			}
		case now := <-tick.C:
			p.updateRates(now)
		}
	}
}

// send queues m for the signalling writer. It never blocks: pion callbacks
// call it. A full queue drops the message (logged).
func (p *Peer) send(m proto.Message) {
	select {
	case p.out <- m:
	default:
		p.log.Warn("signalling queue full, dropping message", "type", m.Type, "to", m.To)
	}
}

func (p *Peer) emit(e Event) {
	if p.cfg.OnEvent == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	p.cfg.OnEvent(e)
}

// handle dispatches one server message. Only a bye is fatal here.
func (p *Peer) handle(m proto.Message) error {
	switch m.Type {
	case proto.TypePeerJoined:
		p.onPeerJoined(m)
	case proto.TypePeerLeft:
		p.onPeerLeft(m)
	case proto.TypeOffer, proto.TypeAnswer, proto.TypeCandidate:
		p.onDirected(m)
	case proto.TypeError:
		p.log.Warn("server error", "code", m.Code, "message", m.Message, "ref", m.Ref)
	case proto.TypeBye:
		return fmt.Errorf("server closed the session: %w",
			&proto.Error{Code: m.Code, Message: m.Message, Ref: m.Type})
	case proto.TypeWelcome:
		p.log.Warn("unexpected second welcome")
	default:
		p.log.Debug("ignoring message", "type", m.Type)
	}
	return nil
}

func (p *Peer) onWelcome(m proto.Message) {
	p.mu.Lock()
	p.self = proto.PeerInfo{ID: m.ID, Name: p.cfg.Name}
	for _, info := range m.Peers {
		if info.ID != m.ID {
			p.roster[info.ID] = info
		}
	}
	p.ice = mergeICEServers(p.cfg.ICEServers, m.ICEServers)
	self := p.self
	p.mu.Unlock()
	p.log = p.log.With("self", self.ID)
	p.log.Info("joined", "peers", len(m.Peers))
	p.emit(Event{Kind: EventWelcome, Peer: self})
}

// onPeerJoined: existing peers offer to the newcomer.
func (p *Peer) onPeerJoined(m proto.Message) {
	if m.Peer == nil || m.Peer.ID == "" {
		return
	}
	info := *m.Peer
	p.mu.Lock()
	p.roster[info.ID] = info
	p.mu.Unlock()
	p.emit(Event{Kind: EventPeerJoined, Peer: info})
	if _, err := p.ensureRemote(info, true); err != nil {
		p.log.Error("create connection", "peer", info.ID, "err", err)
		p.emit(Event{Kind: EventError, Peer: info, Err: err})
	}
}

func (p *Peer) onPeerLeft(m proto.Message) {
	if m.Peer == nil {
		return
	}
	p.mu.Lock()
	info, ok := p.roster[m.Peer.ID]
	if !ok {
		info = *m.Peer
	}
	delete(p.roster, m.Peer.ID)
	r := p.remotes[m.Peer.ID]
	delete(p.remotes, m.Peer.ID)
	if r != nil {
		p.wg.Add(1)
	}
	p.mu.Unlock()
	p.emit(Event{Kind: EventPeerLeft, Peer: info})
	if r != nil {
		go func() {
			defer p.wg.Done()
			r.close()
		}()
	}
}

// onDirected routes offer, answer and candidate to the remote's loop. An
// offer from a peer we have no connection with makes one (newcomer role).
func (p *Peer) onDirected(m proto.Message) {
	if m.From == "" {
		return
	}
	p.mu.Lock()
	r := p.remotes[m.From]
	info, known := p.roster[m.From]
	p.mu.Unlock()
	if r == nil {
		if m.Type != proto.TypeOffer {
			p.log.Debug("message for unknown peer dropped", "type", m.Type, "from", m.From)
			return
		}
		if !known {
			info = proto.PeerInfo{ID: m.From}
		}
		var err error
		if r, err = p.ensureRemote(info, false); err != nil {
			p.log.Error("create connection", "peer", m.From, "err", err)
			p.emit(Event{Kind: EventError, Peer: info, Err: err})
			return
		}
	}
	r.deliver(m)
}

// ensureRemote returns the connection to info, creating it if needed.
// offerer is true when we add our media at once and offer (peer-joined).
func (p *Peer) ensureRemote(info proto.PeerInfo, offerer bool) (*remote, error) {
	p.mu.Lock()
	if r := p.remotes[info.ID]; r != nil {
		p.mu.Unlock()
		return r, nil
	}
	if p.closing {
		p.mu.Unlock()
		return nil, errors.New("peer is closing")
	}
	self, ice := p.self, p.ice
	p.mu.Unlock()

	r, err := newRemote(p, self, info, ice, offerer)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		r.close()
		return nil, errors.New("peer is closing")
	}
	p.remotes[info.ID] = r
	p.mu.Unlock()
	return r, nil
}

// closeAll tears down every connection and waits for the teardowns.
func (p *Peer) closeAll() {
	p.mu.Lock()
	p.closing = true
	rs := make([]*remote, 0, len(p.remotes))
	for id, r := range p.remotes {
		rs = append(rs, r)
		delete(p.remotes, id)
	}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.close()
		}()
	}
	wg.Wait()
	p.wg.Wait()
}

// remotesSorted returns the current connections ordered by name, then id.
func (p *Peer) remotesSorted() []*remote {
	p.mu.Lock()
	rs := make([]*remote, 0, len(p.remotes))
	for _, r := range p.remotes {
		rs = append(rs, r)
	}
	p.mu.Unlock()
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].info.Name != rs[j].info.Name {
			return rs[i].info.Name < rs[j].info.Name
		}
		return rs[i].info.ID < rs[j].info.ID
	})
	return rs
}

// Renegotiate makes the connection to peer id send a fresh offer now, even
// if nothing changed (perfect negotiation handles a collision). ICE
// restarts go through RestartICE.
func (p *Peer) Renegotiate(id string) error {
	p.mu.Lock()
	r := p.remotes[id]
	p.mu.Unlock()
	if r == nil {
		return fmt.Errorf("renegotiate: no connection to peer %q", id)
	}
	r.requestOffer()
	return nil
}

func mergeICEServers(own []webrtc.ICEServer, fromServer []proto.ICEServer) []webrtc.ICEServer {
	out := append([]webrtc.ICEServer(nil), own...)
	for _, s := range fromServer {
		if len(s.URLs) == 0 {
			continue
		}
		out = append(out, webrtc.ICEServer{
			URLs:       append([]string(nil), s.URLs...),
			Username:   s.Username,
			Credential: s.Credential,
		})
	}
	return out
}
