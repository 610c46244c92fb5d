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

// remote is our side of the PeerConnection with one other peer. All SDP
// and candidate operations run on its loop goroutine, one at a time, which
// plays the role of the browser's single-threaded event loop: the loop is
// the negotiator's (negotiator.go), which holds all negotiation state.
type remote struct {
	p    *Peer
	log  *slog.Logger
	self proto.PeerInfo
	info proto.PeerInfo
	pc   *webrtc.PeerConnection
	rec  *recorder // nil when not recording

	stop chan struct{}
	done chan struct{}

	// neg is the offer/answer/restart/resend state machine; its loop is
	// this remote's loop (negotiator.go).
	neg *negotiator

	cands candidateGate

	mu      sync.Mutex // guards closed, wg.Add, chat
	closed  bool
	wg      sync.WaitGroup // media goroutines
	chat    *webrtc.DataChannel
	closing sync.Once

	stats     mediaStats
	sentVideo atomic.Pointer[sentVideo] // our video sender, nil before addLocal
	iceUp     atomic.Bool               // the connection was connected once (see snapshot)

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
		p:    p,
		log:  p.log.With("self", self.ID, "remote", info.ID, "remote_name", info.Name),
		self: self,
		info: info,
		pc:   pc,
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	r.neg = newNegotiator(negConfig{
		pc: pc, log: r.log, to: info.ID, polite: proto.Polite(self.ID, info.ID),
		// offerer: we created the connection on peer-joined and make the
		// first offer; only this side restarts ICE.
		offerer:      offerer,
		restartAfter: p.cfg.ICERestartAfter,
		send:         p.send,
		emit: func(e Event) {
			e.Peer = r.info
			p.emit(e)
		},
		addLocal: r.addLocal,
		handOff:  func(offer proto.Message) bool { return p.handOff(r, offer) },
		cands:    &r.cands,
	})
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
	r.pc.OnNegotiationNeeded(func() { post(r.neg.needNeg) })
	r.pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		r.cands.pass(candidateMessage(r.info.ID, c), r.p.send)
	})
	r.pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		r.log.Info("connection state", "state", s.String())
		r.p.emit(Event{Kind: EventState, Peer: r.info, State: s.String()})
		post(r.neg.stateCh)
	})
	r.pc.OnSignalingStateChange(func(s webrtc.SignalingState) {
		if s == webrtc.SignalingStateStable {
			followDirections(r.pc) // gate.go
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
		sender, err := r.addTrack(r.p.gate(t))
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
	return nil
}

// addTrack adds one of our tracks: send and receive, or only send
// (Config.SendOnly). pion cannot turn a transceiver that a remote offer
// created (receive-only, no sender) into a send-only one, except through
// stopping it (inactive) and giving it a sender (send-only).
func (r *remote) addTrack(t webrtc.TrackLocal) (*webrtc.RTPSender, error) {
	if !r.p.cfg.SendOnly {
		return r.pc.AddTrack(t)
	}
	for _, tr := range r.pc.GetTransceivers() {
		if tr.Kind() != t.Kind() || tr.Sender() != nil || tr.Direction() != webrtc.RTPTransceiverDirectionRecvonly {
			continue
		}
		if err := tr.Stop(); err != nil {
			return nil, err
		}
		s, err := r.p.cfg.API.NewRTPSender(t, r.pc.SCTP().Transport())
		if err != nil {
			return nil, err
		}
		return s, tr.SetSender(s, t)
	}
	tr, err := r.pc.AddTransceiverFromTrack(t, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return nil, err
	}
	return tr.Sender(), nil
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
	case r.neg.inbox <- m:
	default:
		r.log.Warn("remote inbox full, dropping message", "type", m.Type)
	}
}

// requestOffer asks the loop for a fresh offer (Renegotiate).
func (r *remote) requestOffer() {
	post(r.neg.forced)
}

// loop runs the negotiator until close or a handOff.
func (r *remote) loop() {
	defer close(r.done)
	r.neg.run(r.stop)
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
