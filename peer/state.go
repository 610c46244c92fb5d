package peer

import (
	"math"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Peer state (PROTOCOL.md, "State"): each side announces its microphone and
// camera on the chat channel when it opens and whenever they change:
//
//	{"type":"state","mic":"on","camera":"off","screen":false,"max_file":N}
//
// Muting stops sending: the gate between our tracks and each connection
// drops the packets and renumbers the later ones (gate.go); unmuting video
// asks for a key frame.
// The announced state of each remote peer, whether it is talking (from the
// RFC 6464 audio levels in its packets), its link quality and the safety
// code of the connection show in PeerStats.

// features is the Peer's side: what we announce (guarded by mu) and the
// file transfers.
type features struct {
	mu     sync.Mutex
	micOff atomic.Bool // read by the gates of every connection (gate.go)
	camOff atomic.Bool
	files  *fileShare
}

// remoteFeatures is the per-connection state of this file's features.
type remoteFeatures struct {
	mu      sync.Mutex
	mic     string // announced by the peer; "on" until told otherwise
	camera  string
	screen  bool
	maxFile int64 // -1: not announced

	code     atomic.Value // string: the safety code once known
	levelID  atomic.Int32 // RFC 6464 extension id in the remote description; -1: none
	speak    speakDetector
	loss     lossCounter
	refusals atomic.Int64 // error messages the peer sent about ours
}

func (f *remoteFeatures) init() {
	f.mic, f.camera, f.maxFile = "on", "on", -1
	f.code.Store("")
}

// SetMic turns our microphone on or off for every connection, now and
// later, and announces it.
func (p *Peer) SetMic(on bool) { p.setMedia(webrtc.RTPCodecTypeAudio, on) }

// SetCamera turns our camera on or off, like SetMic.
func (p *Peer) SetCamera(on bool) { p.setMedia(webrtc.RTPCodecTypeVideo, on) }

// MediaState reports whether our microphone and camera are on (sending).
func (p *Peer) MediaState() (mic, camera bool) {
	p.feat.mu.Lock()
	defer p.feat.mu.Unlock()
	return !p.feat.micOff.Load() && p.hasTrack(webrtc.RTPCodecTypeAudio), !p.feat.camOff.Load() && p.hasTrack(webrtc.RTPCodecTypeVideo)
}

func (p *Peer) hasTrack(kind webrtc.RTPCodecType) bool {
	for _, t := range p.cfg.Tracks {
		if t.Kind() == kind {
			return true
		}
	}
	return false
}

func (p *Peer) setMedia(kind webrtc.RTPCodecType, on bool) {
	if kind == webrtc.RTPCodecTypeAudio {
		p.feat.micOff.Store(!on)
	} else {
		p.feat.camOff.Store(!on)
		if on { // the receivers missed frames: start with a key frame
			for _, t := range p.cfg.Tracks {
				if t.Kind() == webrtc.RTPCodecTypeVideo {
					requestKeyFrameAll(t)
				}
			}
		}
	}
	for _, r := range p.remotesSorted() {
		_ = r.sendData(p.stateMessage())
	}
}

// stateMessage is the state we announce.
func (p *Peer) stateMessage() *dataMessage {
	mic, cam := p.MediaState()
	onOff := func(b bool) string {
		if b {
			return "on"
		}
		return "off"
	}
	screen := false
	maxFile := p.feat.files.maxFile()
	return &dataMessage{Type: msgState, Mic: onOff(mic), Camera: onOff(cam), Screen: &screen, MaxFile: &maxFile}
}

// onChatOpen announces our state on a chat channel that just opened.
func (r *remote) onChatOpen() {
	if err := r.sendData(r.p.stateMessage()); err != nil {
		r.log.Debug("announcing our state", "err", err)
	}
}

// onState takes the peer's announced state (already checked).
func (r *remote) onState(m *dataMessage) {
	r.feat.mu.Lock()
	r.feat.mic, r.feat.camera = m.Mic, m.Camera
	r.feat.screen = m.Screen != nil && *m.Screen
	if m.MaxFile != nil {
		r.feat.maxFile = *m.MaxFile
	}
	r.feat.mu.Unlock()
	r.p.emit(Event{Kind: EventPeerState, Peer: r.p.rosterInfo(r.info), State: "mic " + m.Mic + ", camera " + m.Camera})
}

// EventPeerState: Peer announced its microphone and camera (State says
// what, e.g. "mic off, camera on").
const EventPeerState EventKind = "peer-state"

// remoteState returns what the peer announced.
func (r *remote) remoteState() (mic, camera string, maxFile int64) {
	r.feat.mu.Lock()
	defer r.feat.mu.Unlock()
	return r.feat.mic, r.feat.camera, r.feat.maxFile
}

// AudioLevelURI is the RTP header extension of RFC 6464.
const AudioLevelURI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"

// RegisterHeaderExtensions registers the RTP header extensions the peer
// reads (RFC 6464 audio levels: who is talking) with me.
func RegisterHeaderExtensions(me *webrtc.MediaEngine) error {
	return me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: AudioLevelURI}, webrtc.RTPCodecTypeAudio)
}

var reAudioLevel = regexp.MustCompile(`(?m)^a=extmap:(\d+)(?:/\w+)? ` + regexp.QuoteMeta(AudioLevelURI) + `\r?$`)

// audioLevelID returns the RFC 6464 extension id the peer uses, 0 if none.
func (r *remote) audioLevelID() uint8 {
	if id := r.feat.levelID.Load(); id != 0 {
		return uint8(max(id, 0))
	}
	desc := r.pc.CurrentRemoteDescription()
	if desc == nil {
		return 0
	}
	id := int32(-1)
	if m := reAudioLevel.FindStringSubmatch(desc.SDP); m != nil {
		if n, err := strconv.Atoi(m[1]); err == nil && n > 0 && n < 15 {
			id = int32(n)
		}
	}
	r.feat.levelID.Store(id)
	return uint8(max(id, 0))
}

// onAudioPacket feeds one received audio packet to the talk detector and
// the loss counter (readTrack).
func (r *remote) onAudioPacket(h *rtp.Header) {
	r.feat.loss.push(h)
	if id := r.audioLevelID(); id != 0 {
		if ext := h.GetExtension(id); len(ext) > 0 {
			r.feat.speak.push(ext[0]&0x7f, time.Now())
		}
	}
}

// onVideoPacket counts a received video packet for the loss figure.
func (r *remote) onVideoPacket(h *rtp.Header) { r.feat.loss.push(h) }

// Talk detection with hysteresis, from RFC 6464 levels (0 = loudest,
// 127 = silence, in -dBov): talking starts after speakOnPackets loud
// packets within speakWindow, and ends after speakHold without one.
const (
	speakLoudLevel = 50 // -50 dBov or louder
	speakOnPackets = 5
	speakWindow    = 300 * time.Millisecond
	speakHold      = 1500 * time.Millisecond
)

type speakDetector struct {
	mu       sync.Mutex
	loud     int
	first    time.Time // first loud packet of the current run
	lastLoud time.Time
	talking  bool
	level    uint8
}

func (s *speakDetector) push(level uint8, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.level = level
	if level > speakLoudLevel {
		return
	}
	if now.Sub(s.lastLoud) > speakWindow {
		s.loud, s.first = 0, now
	}
	s.loud++
	s.lastLoud = now
	if s.loud >= speakOnPackets {
		s.talking = true
	}
}

func (s *speakDetector) speaking(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.talking && now.Sub(s.lastLoud) > speakHold {
		s.talking = false
	}
	return s.talking
}

// lossCounter estimates the share of packets lost per second from the
// sequence numbers of each received stream.
type lossCounter struct {
	mu       sync.Mutex
	streams  map[uint32]*seqTrack
	received uint64
	expected uint64
	lastRecv uint64
	lastExp  uint64
	pct      float64
}

type seqTrack struct {
	started bool
	highest uint64 // extended
}

func (l *lossCounter) push(h *rtp.Header) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.streams == nil {
		l.streams = make(map[uint32]*seqTrack)
	}
	s := l.streams[h.SSRC]
	if s == nil {
		if len(l.streams) >= 16 {
			return
		}
		s = &seqTrack{}
		l.streams[h.SSRC] = s
	}
	l.received++
	if !s.started {
		s.started, s.highest = true, uint64(h.SequenceNumber)
		l.expected++
		return
	}
	// extend the 16-bit sequence number around the highest seen
	ext := s.highest&^0xffff | uint64(h.SequenceNumber)
	if ext+0x8000 < s.highest {
		ext += 0x10000
	} else if ext > s.highest+0x8000 && ext >= 0x10000 {
		ext -= 0x10000
	}
	if ext > s.highest {
		l.expected += ext - s.highest
		s.highest = ext
	}
}

// tick computes the loss of the last interval; called once a second.
func (l *lossCounter) tick() {
	l.mu.Lock()
	defer l.mu.Unlock()
	exp, got := l.expected-l.lastExp, l.received-l.lastRecv
	l.lastExp, l.lastRecv = l.expected, l.received
	if exp == 0 {
		l.pct = 0
		return
	}
	lost := float64(exp) - float64(got)
	l.pct = math.Round(max(0, lost)/float64(exp)*1000) / 10
}

func (l *lossCounter) percent() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pct
}

// featureStats fills the PeerStats fields of this file's features.
func (r *remote) featureStats(ps *PeerStats) {
	mic, camera, _ := r.remoteState()
	ps.Mic, ps.Camera = mic, camera
	ps.Speaking = r.feat.speak.speaking(time.Now())
	ps.LossPct = r.feat.loss.percent()
	if r.iceUp.Load() {
		ps.SafetyCode = r.safetyCode()
	}
	fps := ps.Video.FPS
	counted := camera == "on" && ps.Video.FramesReceived > 0
	ps.Quality = Quality(ps.RTTMillis, ps.LossPct, fps, counted)
}

// FeatureStats are the PeerStats fields of the call features (embedded,
// so they appear at the top level of each peer in --stats-json).
type FeatureStats struct {
	// Mic and Camera are what the peer announced: "on" or "off".
	Mic    string `json:"mic"`
	Camera string `json:"camera"`
	// Speaking: the peer is talking (RFC 6464 levels, with hysteresis).
	Speaking bool `json:"speaking"`
	// Quality is "good", "fair" or "poor" (quality.go); LossPct is the
	// share of packets from the peer lost during the last second.
	Quality string  `json:"quality"`
	LossPct float64 `json:"loss_pct"`
	// SafetyCode is the connection's safety code (safety.go); "" until
	// the connection is up.
	SafetyCode string `json:"safety_code"`
}
