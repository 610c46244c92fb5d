package peer

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// keyFrameRequester is implemented by capture's video tracks.
type keyFrameRequester interface{ RequestKeyFrame() }

// layeredKeyFrameRequester is implemented by capture's video tracks: a
// keyframe only for the layer the binding with this SSRC receives.
type layeredKeyFrameRequester interface{ RequestKeyFrameFor(ssrc uint32) }

// sendStatser is implemented by capture's video tracks.
type sendStatser interface {
	SendStats(ssrc uint32) (targetBps, layer int, ok bool)
}

// keyFrameRequesterErr is the same with an error result.
type keyFrameRequesterErr interface{ RequestKeyFrame() error }

// readRTCP drains a sender's RTCP (which also drives the interceptors) and
// forwards PLI and FIR to the track as a key-frame request. It returns when
// the sender stops (the PeerConnection closes).
func readRTCP(sender *webrtc.RTPSender, track webrtc.TrackLocal) {
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, pkt := range pkts {
			switch p := pkt.(type) {
			case *rtcp.PictureLossIndication:
				requestKeyFrame(track, p.MediaSSRC)
			case *rtcp.FullIntraRequest:
				for _, e := range p.FIR {
					requestKeyFrame(track, e.SSRC)
				}
				if len(p.FIR) == 0 {
					requestKeyFrame(track, p.MediaSSRC)
				}
			}
		}
	}
}

// requestKeyFrameAll asks every layer of the track for a keyframe.
func requestKeyFrameAll(track webrtc.TrackLocal) {
	switch t := track.(type) {
	case keyFrameRequester:
		t.RequestKeyFrame()
	case keyFrameRequesterErr:
		_ = t.RequestKeyFrame()
	}
}

func requestKeyFrame(track webrtc.TrackLocal, ssrc uint32) {
	switch t := track.(type) {
	case layeredKeyFrameRequester:
		t.RequestKeyFrameFor(ssrc)
	case keyFrameRequester:
		t.RequestKeyFrame()
	case keyFrameRequesterErr:
		_ = t.RequestKeyFrame()
	}
}

// mediaStats counts what arrived from one remote peer. Counters are
// written by the track readers and read by Stats.
type mediaStats struct {
	videoFrames  atomic.Uint64
	videoBytes   atomic.Uint64
	audioPackets atomic.Uint64
	firstFrame   atomic.Int64  // unix nanos of the first complete frame, 0 before
	videoSSRC    atomic.Uint32 // the remote's video SSRC, 0 before its track
	freezes      freezeMeter

	mu         sync.Mutex // guards the rate fields
	fps        float64
	lastFrames uint64
	lastTick   time.Time
}

// tick updates the fps estimate from the frames counted since the last tick.
func (s *mediaStats) tick(now time.Time) {
	frames := s.videoFrames.Load()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.lastTick.IsZero() {
		if dt := now.Sub(s.lastTick).Seconds(); dt > 0 {
			s.fps = math.Round(float64(frames-s.lastFrames)/dt*10) / 10
		}
	}
	s.lastFrames, s.lastTick = frames, now
}

func (s *mediaStats) rate() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fps
}

// freezeMeter counts video freezes as Chromium's getStats does: a gap
// between two frames longer than 3 x the average frame interval and at
// least freezeMin. The average follows the gaps that are not freezes.
type freezeMeter struct {
	mu    sync.Mutex
	last  time.Time
	avg   time.Duration
	count uint64
	total time.Duration
	worst time.Duration
}

const freezeMin = 200 * time.Millisecond

func (f *freezeMeter) frame(now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.last.IsZero() {
		f.last = now
		return
	}
	gap := now.Sub(f.last)
	f.last = now
	if f.avg == 0 {
		f.avg = gap
		return
	}
	if gap > 3*f.avg && gap >= freezeMin {
		f.count++
		f.total += gap
		f.worst = max(f.worst, gap)
		return
	}
	f.avg = (f.avg*15 + gap) / 16
}

// read returns the freezes so far: count, total and longest.
func (f *freezeMeter) read() (uint64, time.Duration, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.count, f.total, f.worst
}

// frameCounter turns a packet stream into a frame count: a packet with the
// marker bit ends a frame; a timestamp change while a frame is still open
// (its last packet was lost) ends it too.
type frameCounter struct {
	open   bool
	lastTS uint32
}

// push returns how many frames the packet completed (0, 1 or 2).
func (f *frameCounter) push(h *rtp.Header) int {
	n := 0
	if f.open && h.Timestamp != f.lastTS {
		n++
	}
	f.lastTS = h.Timestamp
	f.open = !h.Marker
	if h.Marker {
		n++
	}
	return n
}

// readTrack reads a remote track until it ends, counting, recording and
// handing each packet to the caller's sink (nil: none).
func (r *remote) readTrack(t *webrtc.TrackRemote, sink *guardedSink) {
	if sink != nil {
		defer sink.Close()
	}
	kind := t.Kind()
	mime := t.Codec().MimeType
	r.log.Info("remote track", "kind", kind.String(), "codec", mime)
	var fc frameCounter
	for {
		pkt, _, err := t.ReadRTP()
		if err != nil {
			return
		}
		switch kind {
		case webrtc.RTPCodecTypeVideo:
			r.stats.videoBytes.Add(uint64(len(pkt.Payload)))
			r.onVideoPacket(&pkt.Header)
			if n := fc.push(&pkt.Header); n > 0 {
				r.stats.videoSSRC.Store(uint32(t.SSRC()))
				r.stats.freezes.frame(time.Now())
				if r.stats.videoFrames.Add(uint64(n)) == uint64(n) {
					r.stats.firstFrame.Store(time.Now().UnixNano())
					r.p.emit(Event{Kind: EventFirstFrame, Peer: r.info})
				}
			}
		case webrtc.RTPCodecTypeAudio:
			r.stats.audioPackets.Add(1)
			r.onAudioPacket(&pkt.Header)
		}
		if r.rec != nil {
			r.rec.push(kind, mime, pkt)
		}
		if sink != nil {
			sink.WriteRTP(pkt)
		}
	}
}

// updateRates refreshes every connection's fps; called once a second.
func (p *Peer) updateRates(now time.Time) {
	for _, r := range p.remotesSorted() {
		r.stats.tick(now)
		r.feat.loss.tick()
	}
}
