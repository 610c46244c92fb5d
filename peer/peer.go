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
	// Links, when set, is the congestion control and link statistics of
	// the connections (it must be the one registered on API): Stats then
	// reports each connection's target bitrate, loss, NACK/PLI counts and
	// jitter, and the video track's layer.
	Links *Links
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
	// OnTrack, when set, is offered every remote track as it starts; a
	// non-nil TrackSink it returns receives the track's packets and sender
	// reports until the track ends (see sink.go for the rules).
	OnTrack func(RemoteTrack) TrackSink
	// OnEvent, when set, is called on room and connection changes. It may
	// be called from several goroutines and must not block.
	OnEvent func(Event)
	// Token is the room token sent in every join (required when the
	// server runs with --token-secret); empty on an open server.
	Token string
	// RelayOnly makes every PeerConnection gather and use relayed (TURN)
	// candidates only (ICETransportPolicyRelay), for users behind strict
	// firewalls and to test a TURN path. Without a usable TURN server in
	// ICEServers or the welcome, no connection can succeed.
	RelayOnly bool
	// SendOnly makes the participant a publisher only: its tracks go on
	// send-only transceivers, so the others do not send it media (a WHIP
	// publisher's participant, which would only throw that media away).
	SendOnly bool
	// ReconnectFor is how long the peer keeps trying to reach the
	// signalling server again after the WebSocket dropped or the server
	// said bye. Meanwhile the PeerConnections, media, chat and stats carry
	// on untouched. Zero means DefaultReconnectFor (5 min); negative gives
	// up at once: Run returns when the connection ends.
	ReconnectFor time.Duration
	// ICERestartAfter is how long a connection we offered may stay
	// disconnected before we restart ICE; a failed connection restarts at
	// once. A restart that does not reconnect is retried after
	// ICERestartAfter, then twice as long each time (at most a minute).
	// Zero means DefaultICERestartAfter (5 s); negative disables automatic
	// restarts.
	ICERestartAfter time.Duration
	// Files configures file sharing (files.go); the zero value refuses
	// every incoming file.
	Files FileConfig
}

// Peer is one native participant in a room. Create it with New and call
// Run once.
type Peer struct {
	cfg     Config
	log     *slog.Logger
	wsURL   string
	out     chan proto.Message
	started atomic.Bool
	// createMu serializes ensureRemote: two callers must never both make
	// a connection to one peer (the loser's first offer would already be
	// on its way from a connection that is then closed).
	createMu sync.Mutex

	mu   sync.Mutex
	self proto.PeerInfo
	ice  []webrtc.ICEServer
	// viewOnly: the welcome said our room token does not allow publishing,
	// so new connections carry no tracks (the server would refuse offers
	// and answers that send media).
	viewOnly bool
	roster   map[string]proto.PeerInfo
	remotes  map[string]*remote
	closing  bool
	wg       sync.WaitGroup // remote teardowns in flight
	// Signalling session (see reconnect.go).
	sc        *sigConn // the live connection; nil while reconnecting
	resumeTok string   // resume token of the last welcome
	// unlisted: connections to peers missing from the roster of a resumed
	// welcome, since when; adopt: roster peers of a resumed welcome we
	// have no connection with, and when we offer to them (reconcile).
	unlisted map[string]time.Time
	adopt    map[string]time.Time

	feat features // mic/camera state and file sharing (state.go, files.go)
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
	if cfg.ReconnectFor == 0 {
		cfg.ReconnectFor = DefaultReconnectFor
	}
	wsURL, err := proto.SignalURL(cfg.Server, cfg.Room)
	if err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	files, err := newFileShare(cfg.Files, log)
	if err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	return &Peer{
		feat:     features{files: files},
		cfg:      cfg,
		log:      log.With("component", "peer", "room", cfg.Room),
		wsURL:    wsURL,
		out:      make(chan proto.Message, outQueue),
		roster:   make(map[string]proto.PeerInfo),
		remotes:  make(map[string]*remote),
		unlisted: make(map[string]time.Time),
		adopt:    make(map[string]time.Time),
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
// goroutines have stopped.
//
// A signalling connection that drops, or a server that says bye (shutdown),
// does not end Run: the PeerConnections carry on and the peer reconnects
// with backoff, resuming its session (see Config.ReconnectFor and
// reconnect.go). A coded refusal by the server (room full, bad name, …) at
// the first join, a refusal that retrying cannot fix later (unauthorized,
// replaced) is returned as *proto.Error; signalling that stayed unreachable
// for ReconnectFor wraps ErrSignallingLost. Cancelling ctx is a clean exit
// and returns nil.
func (p *Peer) Run(ctx context.Context) error {
	if !p.started.CompareAndSwap(false, true) {
		return ErrAlreadyRunning
	}
	sc, welcome, err := p.dial(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	p.onWelcome(welcome)
	stopRates := p.startRates()
	err = p.serve(ctx, sc)
	stopRates()
	p.closeAll()
	return err
}

// serve runs signalling connections one after the other: it serves one
// until it ends, then reconnects. It returns nil when ctx is done.
func (p *Peer) serve(ctx context.Context, sc *sigConn) error {
	for {
		p.setConn(sc)
		sc.start(p.out)
		cause := p.serveConn(ctx, sc)
		p.setConn(nil)
		if ctx.Err() != nil {
			sc.close(true)
			return nil
		}
		sc.close(false)
		if isReplaced(cause) || p.cfg.ReconnectFor < 0 {
			return cause
		}
		var err error
		if sc, err = p.reconnect(ctx, cause); sc == nil {
			return err
		}
	}
}

// serveConn handles the messages of one signalling connection and
// reconciles the connections with the roster once a second. It returns
// nil when ctx is done, otherwise why the connection ended.
func (p *Peer) serveConn(ctx context.Context, sc *sigConn) error {
	tick := time.NewTicker(reconcileEvery)
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
			p.reconcile(now)
		}
	}
}

// startRates refreshes every connection's fps once a second, whether or
// not signalling is up, until the returned function is called.
func (p *Peer) startRates() (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case now := <-tick.C:
				p.updateRates(now)
			}
		}
	}()
	return func() {
		close(quit)
		<-done
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

// handle dispatches one server message. A bye and a replaced error end the
// connection.
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
		if m.Code == proto.CodeReplaced {
			return &proto.Error{Code: m.Code, Message: m.Message, Ref: m.Ref}
		}
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

// onWelcome takes the first welcome: our id, the roster (the peers there
// offer to us) and the ICE servers.
func (p *Peer) onWelcome(m proto.Message) {
	p.mu.Lock()
	self := p.takeWelcomeLocked(m)
	p.mu.Unlock()
	p.log.Info("joined", "self", self.ID, "peers", len(m.Peers))
	p.emit(Event{Kind: EventWelcome, Peer: self})
}

// takeWelcomeLocked sets our id, name, roster, ICE servers and resume
// token from a welcome and returns our new identity. p.mu is held.
func (p *Peer) takeWelcomeLocked(m proto.Message) proto.PeerInfo {
	p.self = proto.PeerInfo{ID: m.ID, Name: p.cfg.Name}
	clear(p.roster)
	for _, info := range m.Peers {
		if info.ID != m.ID {
			p.roster[info.ID] = info
		}
	}
	p.ice = mergeICEServers(p.cfg.ICEServers, m.ICEServers)
	p.resumeTok = m.ResumeToken
	view := m.CanPublish != nil && !*m.CanPublish
	if view && !p.viewOnly && len(p.cfg.Tracks) > 0 {
		p.log.Warn("the room token does not allow publishing: joining receive-only")
	}
	p.viewOnly = view
	return p.self
}

// publishes reports whether new connections carry our tracks.
func (p *Peer) publishes() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.viewOnly
}

// onPeerJoined: existing peers offer to the newcomer.
func (p *Peer) onPeerJoined(m proto.Message) {
	if m.Peer == nil || m.Peer.ID == "" {
		return
	}
	info := *m.Peer
	p.mu.Lock()
	p.roster[info.ID] = info
	delete(p.unlisted, info.ID)
	delete(p.adopt, info.ID)
	known := p.remotes[info.ID]
	var dead *remote
	if known != nil && !known.usable() {
		dead = p.detachLocked(info.ID)
	}
	p.mu.Unlock()
	if known != nil && dead == nil {
		// The peer took its id back after a server restart (resume):
		// the same peer, still connected to us. Keep the connection,
		// and send again an offer that went out while it was away.
		p.log.Info("known peer joined again; keeping its connection", "peer", info.ID)
		known.signallingBack()
		return
	}
	if dead != nil {
		// Its connection closed or failed meanwhile: start afresh as
		// the existing peer. Should the other side still hold its old
		// connection, our new fingerprint makes it replace that too
		// (needsNewConnection).
		p.log.Info("known peer joined again; replacing its dead connection", "peer", info.ID)
		p.closeDetached(dead)
	}
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
	delete(p.adopt, m.Peer.ID)
	r := p.detachLocked(m.Peer.ID)
	p.mu.Unlock()
	p.emit(Event{Kind: EventPeerLeft, Peer: info})
	p.closeDetached(r)
}

// detachLocked removes the connection to id from the map (p.mu held) and
// returns it (nil if none); closeDetached must follow.
func (p *Peer) detachLocked(id string) *remote {
	r := p.remotes[id]
	delete(p.remotes, id)
	delete(p.unlisted, id)
	if r != nil {
		p.wg.Add(1)
	}
	return r
}

// closeDetached closes a connection returned by detachLocked in the
// background; closeAll waits for it.
func (p *Peer) closeDetached(r *remote) {
	if r == nil {
		return
	}
	go func() {
		defer p.wg.Done()
		r.close()
	}()
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
	if r != nil {
		// Delivered under p.mu so that handOff's swap of the connection
		// cannot strand a message in the old one's inbox.
		r.deliver(m)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	if m.Type != proto.TypeOffer {
		p.log.Debug("message for unknown peer dropped", "type", m.Type, "from", m.From)
		return
	}
	if !known {
		info = proto.PeerInfo{ID: m.From}
	}
	r, err := p.ensureRemote(info, false)
	if err != nil {
		p.log.Error("create connection", "peer", m.From, "err", err)
		p.emit(Event{Kind: EventError, Peer: info, Err: err})
		return
	}
	r.deliver(m)
}

// ensureRemote returns the connection to info, creating it if needed.
// offerer is true when we add our media at once and offer (peer-joined).
func (p *Peer) ensureRemote(info proto.PeerInfo, offerer bool) (*remote, error) {
	p.createMu.Lock()
	defer p.createMu.Unlock()
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

// closeAll tears down every connection for good and waits for the
// teardowns.
func (p *Peer) closeAll() {
	p.mu.Lock()
	p.closing = true
	p.mu.Unlock()
	p.dropAll()
}

// dropAll closes every current connection and waits until they (and the
// teardowns already under way) have finished; it returns the peers whose
// connections it closed.
func (p *Peer) dropAll() []proto.PeerInfo {
	p.mu.Lock()
	rs := make([]*remote, 0, len(p.remotes))
	infos := make([]proto.PeerInfo, 0, len(p.remotes))
	for id, r := range p.remotes {
		rs = append(rs, r)
		infos = append(infos, p.rosterInfoLocked(r.info))
		delete(p.remotes, id)
	}
	clear(p.unlisted)
	clear(p.adopt)
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
	return infos
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
