package whip

// WHEP egress. One receive-only room participant per room, the watcher,
// receives every participant once; each participant's audio and video is
// one fanTrack (a TrackLocalStaticRTP) that every player watching that
// participant has in its PeerConnection.
//
//	room participant ──RTP──▶ watcher (peer.Peer, OnTrack sink) ──▶ fanTrack ──▶ player 1, player 2, …
//	participant ◀──PLI── RemoteTrack.RequestKeyFrame (rate-limited) ◀── PLI/FIR of a player
//
// The watcher lives while at least one WHEP session of its room does; the
// last one to end stops it (Handler.releaseWatcher).

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"golang.org/x/time/rate"

	"github.com/videochat/videochat/peer"
	"github.com/videochat/videochat/signal/proto"
	"github.com/videochat/videochat/signal/token"
)

// watcherTokenTTL is the lifetime of the view-only token a watcher joins
// with (it is only checked at join and resume).
const watcherTokenTTL = 24 * time.Hour

type watcher struct {
	h      *Handler
	room   string
	refs   int // WHEP sessions using it; guarded by h.mu
	cancel context.CancelFunc
	done   chan struct{} // Run returned
	ready  chan struct{} // welcomed
	err    error         // Run's result, set before done closes
	peer   *peer.Peer

	mu      sync.Mutex
	pubs    map[string]*published // by participant id
	changed chan struct{}         // closed and replaced on every change of pubs
}

// published is what the watcher receives from one participant.
type published struct {
	info   proto.PeerInfo
	tracks map[webrtc.RTPCodecType]*fanTrack
}

// fanTrack carries one participant's audio or video to every player.
type fanTrack struct {
	*webrtc.TrackLocalStaticRTP
	mu   sync.Mutex
	live bool   // the participant's track is being received
	key  func() // RemoteTrack.RequestKeyFrame of the current source
	lim  *rate.Limiter
}

// RequestKeyFrame asks the participant for a key frame, rate-limited.
func (f *fanTrack) RequestKeyFrame() {
	f.mu.Lock()
	key := f.key
	f.mu.Unlock()
	if key != nil && f.Kind() == webrtc.RTPCodecTypeVideo && f.lim.Allow() {
		key()
	}
}

// fanSink is the watcher's TrackSink for one remote track.
type fanSink struct {
	w *watcher
	f *fanTrack
}

func (s fanSink) WriteRTP(pkt *rtp.Packet) {
	pkt.Header.Extension = false
	pkt.Header.Extensions = nil
	_ = s.f.WriteRTP(pkt)
}

func (fanSink) SenderReport(time.Time, uint32) {}

func (s fanSink) Close() {
	s.f.mu.Lock()
	s.f.live = false
	s.f.mu.Unlock()
	s.w.notify()
}

func (w *watcher) notify() {
	w.mu.Lock()
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
}

// onTrack takes every remote track: the first one of a kind from a
// participant makes its fanTrack; a later one (after the participant
// renegotiated) with the same codec feeds the same fanTrack, so players
// keep playing.
func (w *watcher) onTrack(rt peer.RemoteTrack) peer.TrackSink {
	w.mu.Lock()
	p := w.pubs[rt.Peer.ID]
	if p == nil {
		p = &published{info: rt.Peer, tracks: map[webrtc.RTPCodecType]*fanTrack{}}
		w.pubs[rt.Peer.ID] = p
	}
	f := p.tracks[rt.Kind]
	if f == nil || f.Codec().MimeType != rt.Codec.MimeType {
		c := rt.Codec.RTPCodecCapability
		c.RTCPFeedback = nil
		lt, err := webrtc.NewTrackLocalStaticRTP(c, rt.Kind.String(), "whep-"+rt.Peer.ID)
		if err != nil {
			w.mu.Unlock()
			return nil
		}
		f = &fanTrack{TrackLocalStaticRTP: lt, lim: rate.NewLimiter(rate.Every(w.h.cfg.KeyFrameInterval), 1)}
		p.tracks[rt.Kind] = f
	}
	w.mu.Unlock()
	f.mu.Lock()
	f.live, f.key = true, rt.RequestKeyFrame
	f.mu.Unlock()
	w.notify()
	return fanSink{w: w, f: f}
}

// find returns the live tracks of the participant called name (or with
// that id), and a channel closed at the next change.
func (w *watcher) find(name string) ([]*fanTrack, bool, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []*fanTrack
	known := false
	for _, p := range w.pubs {
		if p.info.Name != name && p.info.ID != name {
			continue
		}
		known = true
		for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
			if f := p.tracks[kind]; f != nil {
				f.mu.Lock()
				live := f.live
				f.mu.Unlock()
				if live {
					out = append(out, f)
				}
			}
		}
		if len(out) > 0 {
			break
		}
	}
	return out, known, w.changed
}

// inRoom reports whether the watcher has a connection to a participant
// called name (or with that id).
func (w *watcher) inRoom(name string) bool {
	for _, ps := range w.peer.Stats().Peers {
		if ps.Name == name || ps.ID == name {
			return true
		}
	}
	return false
}

// acquireWatcher returns the room's watcher, joined, with one more
// reference; the caller must releaseWatcher it.
func (h *Handler) acquireWatcher(ctx context.Context, room, ip string) (*watcher, *httpError) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, errorf(http.StatusServiceUnavailable, codeUnavailable, "the server is shutting down")
	}
	w := h.watchers[room]
	if w != nil && isDone(w.done) {
		w = nil // thrown out of the room; its sessions are ending, start afresh
	}
	if w == nil {
		var herr *httpError
		if w, herr = h.startWatcher(room, ip); herr != nil {
			h.mu.Unlock()
			return nil, herr
		}
		h.watchers[room] = w
	}
	w.refs++
	h.mu.Unlock()
	select {
	case <-w.ready:
		return w, nil
	case <-w.done:
		h.releaseWatcher(w)
		return nil, roomError(w.err)
	case <-ctx.Done():
		h.releaseWatcher(w)
		return nil, errorf(http.StatusServiceUnavailable, codeUnavailable, "joining the room took too long")
	}
}

// startWatcher creates and runs a room's watcher. h.mu is held.
func (h *Handler) startWatcher(room, ip string) (*watcher, *httpError) {
	w := &watcher{
		h: h, room: room,
		done:    make(chan struct{}),
		ready:   make(chan struct{}),
		pubs:    map[string]*published{},
		changed: make(chan struct{}),
	}
	tok := ""
	if len(h.cfg.TokenSecret) > 0 {
		no := false
		var err error
		tok, err = token.Issue(h.cfg.TokenSecret, token.Claims{Room: room, Name: WatcherName, CanPublish: &no, ExpiresAt: time.Now().Add(watcherTokenTTL)})
		if err != nil {
			return nil, errorf(http.StatusInternalServerError, proto.CodeInternal, "could not make the watcher's token")
		}
	}
	var once sync.Once
	p, err := peer.New(peer.Config{
		Server:  h.cfg.Server(ip),
		Room:    room,
		Name:    WatcherName,
		API:     h.cfg.API,
		Token:   tok,
		Logger:  h.log.With("watcher", room),
		OnTrack: w.onTrack,
		OnEvent: func(e peer.Event) {
			switch e.Kind {
			case peer.EventWelcome:
				once.Do(func() { close(w.ready) })
			case peer.EventPeerJoined, peer.EventPeerLeft:
				w.notify()
			}
		},
	})
	if err != nil {
		return nil, errorf(http.StatusInternalServerError, proto.CodeInternal, "could not make the watcher")
	}
	w.peer = p
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		defer close(w.done)
		w.err = p.Run(ctx)
		if w.err != nil {
			h.log.Info("watcher stopped", "room", room, "err", w.err)
		}
	}()
	return w, nil
}

// releaseWatcher drops a reference; the last one stops the watcher and
// waits for it.
func (h *Handler) releaseWatcher(w *watcher) {
	h.mu.Lock()
	w.refs--
	last := w.refs == 0
	if last && h.watchers[w.room] == w {
		delete(h.watchers, w.room)
	}
	h.mu.Unlock()
	if last {
		w.cancel()
		<-w.done
	}
}

// postWHEP creates a WHEP session that plays participant name of room.
func (h *Handler) postWHEP(w http.ResponseWriter, r *http.Request, room, name string) error {
	if _, _, herr := h.authorize(r, room); herr != nil {
		return herr
	}
	offer, herr := h.readBody(w, r, mimeSDP)
	if herr != nil {
		return herr
	}
	if herr := checkOffer(offer, false); herr != nil {
		return herr
	}
	ctx, cancel := waitCtx(r, h.cfg.JoinTimeout+h.cfg.TrackTimeout)
	defer cancel()
	wt, herr := h.acquireWatcher(ctx, room, clientIP(r))
	if herr != nil {
		return herr
	}
	ok := false
	defer func() {
		if !ok {
			h.releaseWatcher(wt)
		}
	}()
	tracks, herr := wt.waitTracks(ctx, name, h.cfg.TrackTimeout)
	if herr != nil {
		return herr
	}
	s, err := h.newSession("whep", room, name)
	if err != nil {
		return err
	}
	defer func() {
		if !ok {
			s.abort()
		}
	}()
	for _, f := range tracks {
		tr, err := s.pc.AddTransceiverFromTrack(f, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return err
		}
		sender := tr.Sender()
		s.goMedia(func() { readPlayerRTCP(sender, f) })
	}
	if err := s.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		s.log.Info("offer refused", "err", err)
		return errorf(http.StatusBadRequest, codeBadSDP, "the offer could not be applied")
	}
	ans, err := s.pc.CreateAnswer(nil)
	if err != nil {
		return errorf(http.StatusBadRequest, codeNoCodec, "the offer could not be answered")
	}
	playable := 0
	got := answerCodecs(ans.SDP)
	for _, f := range tracks {
		if c, ok := got[f.Kind()]; ok && strings.EqualFold(c.MimeType, f.Codec().MimeType) {
			playable++
		}
	}
	if playable == 0 {
		return errorf(http.StatusBadRequest, codeNoCodec, "the player accepts none of the participant's codecs")
	}
	gathered := webrtc.GatheringCompletePromise(s.pc)
	if err := s.pc.SetLocalDescription(ans); err != nil {
		s.log.Info("answer refused", "err", err)
		return errorf(http.StatusBadRequest, codeNoCodec, "the player accepts none of the participant's codecs")
	}
	if herr := h.register(s); herr != nil {
		return herr
	}
	if herr := s.gather(ctx, gathered); herr != nil {
		h.unregister(s)
		return herr
	}
	ok = true
	s.stopped = wt.done
	s.release = func() { h.releaseWatcher(wt) }
	s.pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateConnected {
			for _, f := range tracks {
				f.RequestKeyFrame() // a new player starts at the next key frame
			}
		}
	})
	s.goMedia(func() { wt.endWhenGone(s, tracks, h.cfg.DisconnectTimeout) })
	go s.supervise()
	s.log.Info("WHEP session", "participant", name, "tracks", len(tracks))
	s.answer(w)
	return nil
}

// waitTracks waits until the participant's tracks reach the watcher: both
// kinds, or whatever arrived when the wait ends. A participant not in the
// room is a 404 once the watcher has had time to meet everyone.
func (w *watcher) waitTracks(ctx context.Context, name string, limit time.Duration) ([]*fanTrack, *httpError) {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	poll := time.NewTicker(250 * time.Millisecond)
	defer poll.Stop()
	start := time.Now()
	for {
		tracks, _, changed := w.find(name)
		if len(tracks) == 2 {
			return tracks, nil
		}
		select {
		case <-changed:
		case <-poll.C:
			if len(tracks) == 0 && time.Since(start) > limit/4 && !w.inRoom(name) {
				return nil, errorf(http.StatusNotFound, codeNotFound, "no participant %q in this room", name)
			}
		case <-deadline.C:
			if len(tracks) > 0 {
				return tracks, nil
			}
			return nil, errorf(http.StatusNotFound, codeNotPublishing, "participant %q sends no audio or video", name)
		case <-w.done:
			return nil, roomError(w.err)
		case <-ctx.Done():
			return nil, errorf(http.StatusServiceUnavailable, codeUnavailable, "the participant's media did not arrive in time")
		}
	}
}

// endWhenGone ends a WHEP session whose participant has sent none of its
// tracks for grace (it left the room, or stopped publishing), so players
// of a departed participant do not linger. It returns when the session
// ends.
func (w *watcher) endWhenGone(s *session, tracks []*fanTrack, grace time.Duration) {
	var timer <-chan time.Time
	for {
		w.mu.Lock()
		changed := w.changed
		w.mu.Unlock()
		live := false
		for _, f := range tracks {
			f.mu.Lock()
			live = live || f.live
			f.mu.Unlock()
		}
		switch {
		case live:
			timer = nil
		case timer == nil:
			timer = time.After(grace)
		}
		select {
		case <-s.ended:
			return
		case <-changed:
		case <-timer:
			s.end("the participant stopped sending")
			return
		}
	}
}

// readPlayerRTCP drains a player's RTCP (which drives the interceptors) and
// passes its PLI and FIR to the source.
func readPlayerRTCP(sender *webrtc.RTPSender, f *fanTrack) {
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				f.RequestKeyFrame()
			}
		}
	}
}

func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
