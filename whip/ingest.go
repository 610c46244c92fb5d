package whip

// WHIP ingest: the publisher's PeerConnection terminates here and its RTP
// goes, unchanged apart from header extensions, into the tracks of a room
// participant (peer.Peer) that joined under the publisher's name.
//
//	publisher ──RTP──▶ TrackRemote ──forward──▶ ingestTrack ──▶ every room PeerConnection
//	publisher ◀──PLI── RequestKeyFrame (rate-limited) ◀── PLI/FIR of a room receiver

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"golang.org/x/time/rate"

	"github.com/videochat/videochat/peer"
	"github.com/videochat/videochat/signal/proto"
)

// ingestTrack is a room track fed by the publisher: by one of its tracks,
// or by the chosen layer of a simulcast publisher (forward.go).
// RequestKeyFrame (called by package peer on a receiver's PLI or FIR)
// sends the publisher a PLI for that layer.
type ingestTrack struct {
	*webrtc.TrackLocalStaticRTP
	s      *session
	mime   string
	pt     uint8 // the payload type negotiated (the only one forwarded)
	single bool  // the section offered one stream (no simulcast)
	lim    *rate.Limiter

	mu     sync.Mutex
	recv   *webrtc.RTPReceiver // the publisher transceiver feeding it
	layers []*layer
	cur    *layer // forwarded; nil before the first choice
	// pending is the layer to switch to at its next key frame, asked for
	// at asked.
	pending *layer
	asked   time.Time
	first   time.Time // first packet of any layer
	// switched is when cur last changed.
	switched time.Time
	// Rewriting: the sequence number and timestamp offsets of cur, and
	// the last ones sent.
	seqOff  uint16
	tsOff   uint32
	lastSeq uint16
	lastTS  uint32
	lastAt  time.Time
	sent    bool
}

// RequestKeyFrame sends the publisher a PLI for the forwarded (or next)
// layer, at most one per KeyFrameInterval.
func (t *ingestTrack) RequestKeyFrame() {
	if t.Kind() != webrtc.RTPCodecTypeVideo {
		return
	}
	t.mu.Lock()
	l := t.cur
	if t.pending != nil {
		l = t.pending
	}
	t.mu.Unlock()
	if l != nil {
		t.pli(l.ssrc)
	}
}

// pli sends a rate-limited PLI for ssrc.
func (t *ingestTrack) pli(ssrc uint32) {
	if t.lim.Allow() {
		_ = t.s.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
	}
}

// postWHIP creates a WHIP session: checks, answers the offer, joins the
// room and replies 201.
func (h *Handler) postWHIP(w http.ResponseWriter, r *http.Request, room string) error {
	claims, tok, herr := h.authorize(r, room)
	if herr != nil {
		return herr
	}
	name := DefaultName
	switch {
	case h.tokens != nil:
		if !claims.MayPublish() {
			return errorf(http.StatusForbidden, codeForbidden, "the room token does not allow publishing")
		}
		name = claims.Name
	case r.URL.Query().Get("name") != "":
		n, perr := proto.CleanName(r.URL.Query().Get("name"))
		if perr != nil {
			return errorf(http.StatusBadRequest, proto.CodeBadName, "%s", perr.Message)
		}
		name = n
	}
	offer, herr := h.readBody(w, r, mimeSDP)
	if herr != nil {
		return herr
	}
	if herr := checkOffer(offer, true); herr != nil {
		return herr
	}
	s, err := h.newSession("whip", room, "")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			s.abort()
		}
	}()
	tracks, herr := s.negotiate(offer)
	if herr != nil {
		return herr
	}
	gathered := webrtc.GatheringCompletePromise(s.pc)
	if err := s.pc.SetLocalDescription(s.pendingAnswer); err != nil {
		return err
	}
	if herr := h.register(s); herr != nil {
		return herr
	}
	stop, herr := s.joinRoom(r, tok, name, tracks)
	if herr != nil {
		h.unregister(s)
		return herr
	}
	ctx, cancel := waitCtx(r, h.cfg.JoinTimeout)
	defer cancel()
	if herr := s.gather(ctx, gathered); herr != nil {
		stop()
		h.unregister(s)
		return herr
	}
	ok = true
	s.release = stop
	go s.supervise()
	s.log.Info("WHIP session", "name", name)
	s.answer(w)
	return nil
}

// negotiate applies the offer and creates (but does not apply) the answer,
// then makes one room track per kind with the codec the answer chose.
func (s *session) negotiate(offer string) ([]*ingestTrack, *httpError) {
	s.pc.OnTrack(s.forward)
	if err := s.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		s.log.Info("offer refused", "err", err)
		return nil, errorf(http.StatusBadRequest, codeBadSDP, "the offer could not be applied")
	}
	ans, err := s.pc.CreateAnswer(nil)
	if err != nil {
		s.log.Info("no answer", "err", err)
		return nil, errorf(http.StatusBadRequest, codeNoCodec, "the offer could not be answered")
	}
	// Answer one codec per section (the first both sides have, in the
	// offer's order): the publisher must then send what the room track
	// is made for, whatever else it offered.
	if ans, err = s.pinCodecs(ans); err != nil {
		s.log.Info("no answer with one codec", "err", err)
		return nil, errorf(http.StatusBadRequest, codeNoCodec, "the offer could not be answered")
	}
	codecs := answerCodecs(ans.SDP)
	pts := map[webrtc.RTPCodecType]uint8{} // the first section's, per kind
	for _, ch := range chosenCodecs(ans.SDP) {
		if _, seen := pts[ch.kind]; !seen {
			pts[ch.kind] = uint8(ch.codecs[0].PayloadType)
		}
	}
	if len(codecs) == 0 {
		return nil, errorf(http.StatusBadRequest, codeNoCodec, "the offer has no codec the room accepts (VP8, H.264 constrained baseline with packetization-mode=1, Opus)")
	}
	s.pendingAnswer = ans // applied by the caller
	var out []*ingestTrack
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		c, ok := codecs[kind]
		if !ok {
			continue
		}
		lt, err := webrtc.NewTrackLocalStaticRTP(c, kind.String(), "whip-"+s.id[:8])
		if err != nil {
			return nil, errorf(http.StatusBadRequest, codeNoCodec, "unusable codec %s", c.MimeType)
		}
		out = append(out, &ingestTrack{
			TrackLocalStaticRTP: lt,
			s:                   s,
			mime:                c.MimeType,
			pt:                  pts[kind],
			single:              ridsOffered(offer, kind) <= 1,
			lim:                 rate.NewLimiter(rate.Every(s.h.cfg.KeyFrameInterval), 1),
		})
	}
	s.ingest = out
	return out, nil
}

// pinCodecs restricts each transceiver to the codec (and its RTX) that
// the first answer chose for its section, and answers again.
func (s *session) pinCodecs(first webrtc.SessionDescription) (webrtc.SessionDescription, error) {
	for _, c := range chosenCodecs(first.SDP) {
		for _, tr := range s.pc.GetTransceivers() {
			if tr.Mid() == c.mid {
				if err := tr.SetCodecPreferences(c.codecs); err != nil {
					return first, err
				}
			}
		}
	}
	return s.pc.CreateAnswer(nil)
}

// forward attaches a publisher track (or simulcast layer) to the room
// track of its kind and reads it, with its RTCP, on goroutines the session
// waits for. A kind's room track takes the tracks of the first transceiver
// that delivers one; other sections of that kind are not read.
func (s *session) forward(t *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	var it *ingestTrack
	for _, c := range s.ingest {
		if c.Kind() != t.Kind() {
			continue
		}
		c.mu.Lock()
		if c.recv == nil {
			c.recv = recv
		}
		if c.recv == recv {
			it = c
		}
		c.mu.Unlock()
		if it != nil {
			break
		}
	}
	if it == nil {
		s.log.Info("publisher track not forwarded (one section per kind)", "kind", t.Kind().String(), "mid", recv.RTPTransceiver().Mid())
		return
	}
	l := &layer{rid: t.RID(), ssrc: uint32(t.SSRC())}
	it.mu.Lock()
	it.layers = append(it.layers, l)
	it.mu.Unlock()
	s.log.Debug("publisher track", "kind", t.Kind().String(), "rid", l.rid, "ssrc", l.ssrc)
	s.goMedia(func() { it.read(t, l) })
	// Reading the publisher's RTCP lets the report interceptor see its
	// sender reports (our receiver reports then carry LSR/DLSR).
	rid := t.RID()
	s.goMedia(func() {
		for {
			var err error
			if rid != "" {
				_, _, err = recv.ReadSimulcastRTCP(rid)
			} else {
				_, _, err = recv.ReadRTCP()
			}
			if err != nil {
				return
			}
		}
	})
}

// joinRoom starts the room participant and waits until the room welcomed
// it (or refused it). stop ends the participant and waits for it.
func (s *session) joinRoom(r *http.Request, tok, name string, tracks []*ingestTrack) (stop func(), herr *httpError) {
	lt := make([]webrtc.TrackLocal, len(tracks))
	for i, t := range tracks {
		lt[i] = t
	}
	welcomed := make(chan struct{})
	var once sync.Once
	p, err := peer.New(peer.Config{
		Server: s.h.cfg.Server(clientIP(r)),
		Room:   s.room,
		Name:   name,
		API:    s.h.cfg.API,
		Tracks: lt,
		Token:  tok,
		Logger: s.log,
		// The publisher sends; what the room sends it would be thrown away.
		SendOnly: true,
		OnEvent: func(e peer.Event) {
			if e.Kind == peer.EventWelcome {
				once.Do(func() { close(welcomed) })
			}
		},
	})
	if err != nil {
		return nil, errorf(http.StatusBadRequest, proto.CodeBadName, "the name cannot join a room")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var runErr error
	go func() {
		defer close(done)
		runErr = p.Run(ctx)
	}()
	stop = func() {
		cancel()
		<-done
	}
	wctx, wcancel := waitCtx(r, s.h.cfg.JoinTimeout)
	defer wcancel()
	select {
	case <-welcomed:
		s.stopped = done
		return stop, nil
	case <-done:
		s.log.Info("room refused the session", "err", runErr)
		return nil, roomError(runErr)
	case <-wctx.Done():
		stop()
		return nil, errorf(http.StatusServiceUnavailable, codeUnavailable, "joining the room took too long")
	}
}
