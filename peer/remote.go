package peer

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/videochat/videochat/signal/proto"
)

// inboxSize bounds the signalling messages waiting for one remote's loop.
const inboxSize = 256

// remote is our side of the PeerConnection with one other peer. All SDP
// and candidate operations run on its loop goroutine, one at a time, which
// plays the role of the browser's single-threaded event loop.
type remote struct {
	p      *Peer
	log    *slog.Logger
	self   proto.PeerInfo
	info   proto.PeerInfo
	polite bool
	// offerer: we created the connection on peer-joined and made the
	// first offer; only this side restarts ICE.
	offerer bool
	pc      *webrtc.PeerConnection
	rec     *recorder // nil when not recording

	inbox   chan proto.Message
	needNeg chan struct{} // cap 1: pion's negotiationneeded
	forced  chan struct{} // cap 1: Renegotiate
	stateCh chan struct{} // cap 1: the connection state changed
	restart chan struct{} // cap 1: RestartICE
	resumed chan struct{} // cap 1: signalling came back (same id)
	stop    chan struct{}
	done    chan struct{}

	// Negotiation and ICE-restart state, loop goroutine only.
	neg    negotiation
	ice    iceRestart
	resend offerResend // see offerresend.go

	cands candidateGate

	mu      sync.Mutex // guards closed, wg.Add, chat
	closed  bool
	wg      sync.WaitGroup // media goroutines
	chat    *webrtc.DataChannel
	closing sync.Once

	stats     mediaStats
	sentVideo atomic.Pointer[sentVideo] // our video sender, nil before addLocal
	rounds    atomic.Int64              // completed offer/answer exchanges
	glare     atomic.Int64              // offer collisions seen (ignored or rolled back)

	iceUp        atomic.Bool  // the connection was connected once (see snapshot)
	restartsSent atomic.Int64 // ICE-restart offers we initiated
	restartsDone atomic.Int64 // completed negotiations that changed the remote ufrag
	remoteUfrag  atomic.Value // string: ufrag of the current remote description

	feat remoteFeatures // announced state, talk detection, loss, safety code (state.go)
}

// newRemote creates the PeerConnection to info and starts its loop. As the
// offerer it adds our media and the chat channel at once, which fires
// negotiationneeded and so the first offer; as the newcomer it waits for the
// remote offer and adds them after applying it (see addLocal).
func newRemote(p *Peer, self, info proto.PeerInfo, ice []webrtc.ICEServer, offerer bool) (*remote, error) {
	conf := webrtc.Configuration{ICEServers: ice}
	if p.cfg.RelayOnly {
		conf.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	pc, err := p.cfg.API.NewPeerConnection(conf)
	if err != nil {
		return nil, fmt.Errorf("new PeerConnection for %s: %w", info.ID, err)
	}
	r := &remote{
		p:       p,
		log:     p.log.With("self", self.ID, "remote", info.ID, "remote_name", info.Name),
		self:    self,
		info:    info,
		polite:  proto.Polite(self.ID, info.ID),
		offerer: offerer,
		pc:      pc,
		inbox:   make(chan proto.Message, inboxSize),
		needNeg: make(chan struct{}, 1),
		forced:  make(chan struct{}, 1),
		stateCh: make(chan struct{}, 1),
		stop:    make(chan struct{}),
		restart: make(chan struct{}, 1),
		resumed: make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	r.remoteUfrag.Store("")
	r.feat.init()
	if p.cfg.RecordDir != "" {
		r.rec = newRecorder(p.cfg.RecordDir, p.cfg.Room, info, r.log, r.remoteSendsVideo, r.sendPLI)
	}
	r.installHandlers()
	if offerer {
		if err := r.addLocal(); err != nil {
			_ = pc.Close()
			return nil, err
		}
	}
	go r.loop()
	return r, nil
}

func (r *remote) installHandlers() {
	r.pc.OnNegotiationNeeded(func() {
		select {
		case r.needNeg <- struct{}{}:
		default:
		}
	})
	r.pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		r.cands.pass(candidateMessage(r.info.ID, c), r.p.send)
	})
	r.pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		r.log.Info("connection state", "state", s.String())
		r.p.emit(Event{Kind: EventState, Peer: r.info, State: s.String()})
		select {
		case r.stateCh <- struct{}{}:
		default:
		}
	})
	r.pc.OnDataChannel(r.onDataChannel) // file transfers (files.go)
	r.pc.OnTrack(func(t *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
		r.goMedia(func() { r.readTrack(t, r.openSink(t, recv)) })
	})
}

// sentVideo is our video sender on a connection, for Stats.
type sentVideo struct {
	ssrc  uint32
	track webrtc.TrackLocal
}

// addLocal adds our tracks (with an RTCP reader per sender) and the
// pre-negotiated chat channel. It runs once per connection.
func (r *remote) addLocal() error {
	var tracks []webrtc.TrackLocal
	if r.p.publishes() {
		tracks = r.p.cfg.Tracks
	}
	for _, t := range tracks {
		sender, err := r.pc.AddTrack(r.p.gate(t))
		if err != nil {
			return fmt.Errorf("add track %s: %w", t.ID(), err)
		}
		if t.Kind() == webrtc.RTPCodecTypeVideo {
			if enc := sender.GetParameters().Encodings; len(enc) > 0 {
				r.sentVideo.Store(&sentVideo{ssrc: uint32(enc[0].SSRC), track: t})
			}
		}
		r.goMedia(func() { readRTCP(sender, t) })
	}
	negotiated := true
	id := uint16(proto.ChatChannelID)
	dc, err := r.pc.CreateDataChannel(proto.ChatLabel, &webrtc.DataChannelInit{Negotiated: &negotiated, ID: &id})
	if err != nil {
		return fmt.Errorf("create chat channel: %w", err)
	}
	dc.OnMessage(r.onChatMessage)
	dc.OnOpen(r.onChatOpen)
	r.mu.Lock()
	r.chat = dc
	r.mu.Unlock()
	r.neg.localAdded = true
	return nil
}

// goMedia runs f on a goroutine owned by r, unless r is closing.
func (r *remote) goMedia(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		f()
	}()
}

// deliver hands a signalling message to the loop without blocking the
// peer's main loop.
func (r *remote) deliver(m proto.Message) {
	select {
	case r.inbox <- m:
	default:
		r.log.Warn("remote inbox full, dropping message", "type", m.Type)
	}
}

// requestOffer asks the loop for a fresh offer (Renegotiate).
func (r *remote) requestOffer() {
	select {
	case r.forced <- struct{}{}:
	default:
	}
}

func (r *remote) loop() {
	defer close(r.done)
	defer r.ice.stop()
	defer r.resend.stop()
	for {
		select {
		case <-r.stop:
			return
		case m := <-r.inbox:
			if r.handleSignal(m) {
				return // handed over to a new connection (handOff)
			}
		case <-r.needNeg:
			r.makeOffer()
		case <-r.forced:
			r.neg.wantOffer = true
			r.makeOffer()
		case <-r.stateCh:
			r.onConnState()
		case <-r.ice.timerC():
			r.onRestartTimer()
		case <-r.resend.C():
			r.onOfferResendTimer()
		case <-r.restart:
			r.startRestart(restartManual)
		case <-r.resumed:
			r.onSignallingBack()
		}
	}
}

// close stops the loop, closes the PeerConnection, waits for the media
// goroutines and finalizes the recording. Safe to call more than once.
func (r *remote) close() {
	r.closing.Do(func() {
		close(r.stop)
		<-r.done
		r.mu.Lock()
		r.closed = true
		r.mu.Unlock()
		if err := r.pc.Close(); err != nil {
			r.log.Debug("close PeerConnection", "err", err)
		}
		r.wg.Wait()
		r.p.feat.files.remoteClosed(r)
		if r.rec != nil {
			r.rec.close()
		}
	})
}

// remoteSendsVideo reports whether the remote description has a video
// section the remote sends on (sendrecv or sendonly). The recorder uses it
// to decide whether to wait for a video key frame.
func (r *remote) remoteSendsVideo() bool {
	desc := r.pc.RemoteDescription()
	if desc == nil {
		return true // unknown yet: assume video will come
	}
	parsed, err := desc.Unmarshal()
	if err != nil {
		return true
	}
	for _, m := range parsed.MediaDescriptions {
		if m.MediaName.Media != "video" || m.MediaName.Port.Value == 0 {
			continue
		}
		if _, ok := m.Attribute("recvonly"); ok {
			continue
		}
		if _, ok := m.Attribute("inactive"); ok {
			continue
		}
		return true
	}
	return false
}

// sendPLI asks the remote to send a key frame on the video stream ssrc.
func (r *remote) sendPLI(ssrc uint32) {
	if err := r.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}); err != nil {
		r.log.Debug("send PLI", "err", err)
	}
}
