package whip

// One WHIP or WHEP session: the client's PeerConnection on our side, its
// ICE state, its PATCH negotiation and its supervisor.

import (
	"context"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
)

type session struct {
	h    *Handler
	id   string
	kind string // "whip" or "whep"
	room string
	// segs is the session's resource path below the kind, unescaped, as
	// in its Location: room, id or room, name, id.
	segs []string
	log  *slog.Logger
	pc   *webrtc.PeerConnection

	// negMu serialises PATCH negotiation; it guards etag.
	negMu sync.Mutex
	etag  string

	iceCh chan struct{} // ICE state changed (capacity 1)

	endOnce sync.Once
	ended   chan struct{} // closed by end
	reason  string        // why end was called; written before ended closes

	mediaMu     sync.Mutex
	mediaClosed bool
	media       sync.WaitGroup // goroutines reading or writing media

	// stopped is closed when the session's room side has ended (the WHIP
	// participant left or the WHEP watcher stopped); release undoes the
	// room side during teardown, after the PeerConnection closed.
	stopped <-chan struct{}
	release func()

	// Set while the POST builds the session, read-only afterwards.
	pendingAnswer webrtc.SessionDescription
	ingest        []*ingestTrack // WHIP: the room tracks
}

func (h *Handler) newSession(kind, room, sub string) (*session, error) {
	id := newID()
	segs := []string{room, id}
	if sub != "" {
		segs = []string{room, sub, id}
	}
	s := &session{
		h: h, id: id, kind: kind, room: room, segs: segs,
		log:   h.log.With("session", id[:8], "kind", kind, "room", room),
		etag:  newETag(),
		iceCh: make(chan struct{}, 1),
		ended: make(chan struct{}),
	}
	pc, err := h.cfg.API.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	s.pc = pc
	pc.OnICEConnectionStateChange(func(st webrtc.ICEConnectionState) {
		s.log.Debug("ice state", "state", st.String())
		select {
		case s.iceCh <- struct{}{}:
		default:
		}
	})
	return s, nil
}

// location is the URL path of the session resource, each segment escaped
// (a WHEP participant's name may hold spaces or any letter).
func (s *session) location() string {
	esc := make([]string, len(s.segs))
	for i, v := range s.segs {
		esc[i] = url.PathEscape(v)
	}
	return "/" + s.kind + "/" + strings.Join(esc, "/")
}

// end asks the supervisor to end the session; the first reason wins.
func (s *session) end(reason string) {
	s.endOnce.Do(func() {
		s.reason = reason
		close(s.ended)
	})
}

// goMedia runs f on a goroutine the session waits for at teardown, unless
// teardown has begun.
func (s *session) goMedia(f func()) bool {
	s.mediaMu.Lock()
	defer s.mediaMu.Unlock()
	if s.mediaClosed {
		return false
	}
	s.media.Add(1)
	go func() {
		defer s.media.Done()
		f()
	}()
	return true
}

// abort undoes a session that never got registered: closes its
// PeerConnection and waits for its media goroutines.
func (s *session) abort() {
	_ = s.pc.Close()
	s.mediaMu.Lock()
	s.mediaClosed = true
	s.mediaMu.Unlock()
	s.media.Wait()
}

// supervise ends the session when it is deleted, its ICE fails, stays
// disconnected for DisconnectTimeout or does not connect within
// ConnectTimeout, or its room side stops; then it tears it down. It is the
// only goroutine that tears a session down.
func (s *session) supervise() {
	defer s.h.unregister(s)
	cfg := &s.h.cfg
	connect := time.NewTimer(cfg.ConnectTimeout)
	defer connect.Stop()
	var disc *time.Timer
	var discC <-chan time.Time
	stopDisc := func() {
		if disc != nil {
			disc.Stop()
			disc, discC = nil, nil
		}
	}
	defer stopDisc()
	reason := ""
	for reason == "" {
		select {
		case <-s.ended:
			reason = s.reason
		case <-s.stopped:
			reason = "room participant stopped"
		case <-connect.C:
			reason = "ICE did not connect in time"
		case <-discC:
			reason = "ICE disconnected for too long"
		case <-s.iceCh:
			switch s.pc.ICEConnectionState() {
			case webrtc.ICEConnectionStateConnected, webrtc.ICEConnectionStateCompleted:
				connect.Stop()
				stopDisc()
			case webrtc.ICEConnectionStateDisconnected:
				if disc == nil {
					disc = time.NewTimer(cfg.DisconnectTimeout)
					discC = disc.C
				}
			case webrtc.ICEConnectionStateFailed:
				reason = "ICE failed"
			case webrtc.ICEConnectionStateClosed:
				reason = "ICE closed"
			}
		}
	}
	s.end(reason) // so that a later DELETE finds it ended
	s.log.Info("session ended", "reason", reason)
	_ = s.pc.Close()
	if s.release != nil {
		s.release()
	}
	s.mediaMu.Lock()
	s.mediaClosed = true
	s.mediaMu.Unlock()
	s.media.Wait()
}

// gather waits until ICE gathering of the local description is complete
// (our answers carry all our candidates) or ctx ends.
func (s *session) gather(ctx context.Context, done <-chan struct{}) *httpError {
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return errorf(http.StatusServiceUnavailable, codeUnavailable, "ICE gathering did not finish in time")
	}
}

// answer writes the 201 of a POST: the answer with all our candidates,
// Location, ETag, Accept-Patch and the ICE servers.
func (s *session) answer(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Content-Type", mimeSDP)
	hd.Set("Location", s.location())
	hd.Set("ETag", s.etag)
	hd.Set("Accept-Patch", mimeFrag)
	s.h.linkICEServers(hd, s.kind+"-"+s.id[:8])
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write([]byte(s.pc.LocalDescription().SDP))
}

// patch applies a trickle-ice-sdpfrag: new remote candidates (204), or an
// ICE restart (If-Match: "*" and new credentials; 200 with our new
// credentials and candidates and a new ETag).
func (h *Handler) patch(w http.ResponseWriter, r *http.Request, kind string, rest []string) error {
	if _, _, err := h.authorize(r, rest[0]); err != nil {
		return err
	}
	s := h.lookup(kind, rest)
	if s == nil {
		return errorf(http.StatusNotFound, codeNotFound, "no such session (ended, reaped, or never created)")
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == mimeSDP {
		// A new offer: renegotiation, e.g. to change codec or add a
		// track. WHIP and WHEP have none (RFC 9725 section 4.3).
		w.Header().Set("Accept-Patch", mimeFrag)
		return errorf(http.StatusUnsupportedMediaType, codeRenegotiation, "a session's media and codecs are fixed by its first offer; to change them, DELETE the session and POST a new offer")
	}
	body, herr := h.readBody(w, r, mimeFrag)
	if herr != nil {
		return herr
	}
	frag, herr := parseFrag(body)
	if herr != nil {
		return herr
	}
	s.negMu.Lock()
	defer s.negMu.Unlock()
	match := strings.TrimSpace(r.Header.Get("If-Match"))
	if match != "" && match != "*" && match != s.etag {
		return errorf(http.StatusPreconditionFailed, codePrecondition, "If-Match does not match the session's ETag (it changes with each ICE restart)")
	}
	rd := s.pc.RemoteDescription()
	if rd == nil {
		return errorf(http.StatusConflict, codeConflict, "the session has no remote description")
	}
	ufrag, _ := iceCredentials(rd.SDP)
	if frag.ufrag != "" && frag.ufrag != ufrag {
		if match != "*" {
			return errorf(http.StatusConflict, codeConflict, "the ICE ufrag does not match the session's; an ICE restart needs If-Match: \"*\"")
		}
		return s.restartICE(w, r, frag)
	}
	for _, c := range frag.cands {
		init := webrtc.ICECandidateInit{Candidate: c.line}
		if c.mid != "" {
			mid := c.mid
			init.SDPMid = &mid
		}
		if err := s.pc.AddICECandidate(init); err != nil {
			s.log.Debug("bad remote candidate", "candidate", c.line, "err", err)
			return errorf(http.StatusBadRequest, codeBadSDP, "a candidate could not be used")
		}
	}
	s.log.Debug("trickled candidates", "n", len(frag.cands))
	w.Header().Set("ETag", s.etag)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// restartICE makes the session's remote description take the client's new
// credentials (pion restarts its agent on such an offer), answers, gathers
// and replies with our new credentials and candidates. negMu is held.
func (s *session) restartICE(w http.ResponseWriter, r *http.Request, frag sdpFrag) error {
	if frag.pwd == "" {
		return errorf(http.StatusBadRequest, codeBadSDP, "an ICE restart needs a=ice-ufrag and a=ice-pwd")
	}
	offer := withCredentials(s.pc.RemoteDescription().SDP, frag.ufrag, frag.pwd)
	if err := s.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		s.log.Info("ICE restart refused", "err", err)
		return errorf(http.StatusConflict, codeConflict, "the ICE restart could not be applied now")
	}
	ans, err := s.pc.CreateAnswer(nil)
	if err != nil {
		return errorf(http.StatusConflict, codeConflict, "the ICE restart could not be answered")
	}
	gathered := webrtc.GatheringCompletePromise(s.pc)
	if err := s.pc.SetLocalDescription(ans); err != nil {
		return errorf(http.StatusConflict, codeConflict, "the ICE restart could not be answered")
	}
	for _, c := range frag.cands {
		init := webrtc.ICECandidateInit{Candidate: c.line}
		if c.mid != "" {
			mid := c.mid
			init.SDPMid = &mid
		}
		_ = s.pc.AddICECandidate(init)
	}
	ctx, cancel := waitCtx(r, s.h.cfg.JoinTimeout)
	defer cancel()
	if herr := s.gather(ctx, gathered); herr != nil {
		return herr
	}
	s.etag = newETag()
	s.log.Info("ICE restarted")
	hd := w.Header()
	hd.Set("Content-Type", mimeFrag)
	hd.Set("ETag", s.etag)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(localFrag(s.pc.LocalDescription().SDP)))
	return nil
}
