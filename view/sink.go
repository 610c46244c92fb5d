package view

// One remote video track: peer.TrackSink → assembler → decoder goroutine →
// tile. See the package comment for the invariants.

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/videochat/videochat/peer"
	"github.com/videochat/videochat/view/decode"
)

const (
	// frameQueue bounds the encoded frames waiting for the decoder.
	frameQueue = 8
	// keyRequestInterval is the least time between two PLIs of a track.
	keyRequestInterval = 300 * time.Millisecond
)

// Sink returns the sink for a remote track: a video track whose codecs it
// can decode gets a tile (created with the peer's first video track);
// anything else gets nil (the peer then does not hand it out).
func (v *View) Sink(rt peer.RemoteTrack) peer.TrackSink {
	if rt.Kind != webrtc.RTPCodecTypeVideo {
		return nil
	}
	pts := map[uint8]string{}
	for _, c := range append(rt.Codecs, rt.Codec) {
		if decode.Supported(c.MimeType) {
			pts[uint8(c.PayloadType)] = strings.ToLower(c.MimeType)
		}
	}
	if len(pts) == 0 {
		v.log.Warn("remote video codec cannot be decoded: no tile", "peer", rt.Peer.Name, "codec", rt.Codec.MimeType)
		return nil
	}
	key := rt.RequestKeyFrame
	if key == nil {
		key = func() {}
	}
	s := &trackSink{
		v:       v,
		t:       v.attach(rt.Peer.ID, rt.Peer.Name),
		pts:     pts,
		pt:      -1,
		keyFunc: key,
		frames:  make(chan encodedFrame, frameQueue),
		done:    make(chan struct{}),
	}
	v.sinks.Add(1)
	go s.decodeLoop()
	return s
}

// trackSink is one remote video track. WriteRTP's goroutine owns pt, asm
// and out; the decoder goroutine owns the decoder.
type trackSink struct {
	v       *View
	t       *tile
	pts     map[uint8]string // payload type → decodable codec
	keyFunc func()

	pt  int
	asm *assembler
	out []encodedFrame

	frames  chan encodedFrame
	done    chan struct{}
	wantKey atomic.Bool // the decoder failed: drop until a key frame

	keyMu   sync.Mutex
	lastKey time.Time

	srMu   sync.Mutex
	srNTP  time.Time
	srRTP  uint32
	haveSR bool
}

func (s *trackSink) WriteRTP(p *rtp.Packet) {
	st := &s.t.stats
	mime, ok := s.pts[p.PayloadType]
	if !ok {
		st.unknownPT.Add(1)
		return
	}
	if int(p.PayloadType) != s.pt {
		if s.pt >= 0 {
			st.codecSwitches.Add(1)
		}
		s.pt = int(p.PayloadType)
		s.asm = newAssembler(mime, st)
	}
	if s.wantKey.Swap(false) {
		s.asm.needKey()
	}
	drops := func() int64 { return st.framesIncomplete.Load() + st.framesWaitKey.Load() + st.framesOverflow.Load() }
	before := drops()
	s.out = s.asm.push(p, s.v.cfg.Now(), s.out[:0])
	for i, f := range s.out {
		select {
		case s.frames <- f:
		default:
			st.framesOverflow.Add(1)
			s.asm.needKey()
		}
		s.out[i] = encodedFrame{}
	}
	if drops() > before {
		s.requestKey() // decoding cannot proceed without a key frame
	}
}

// requestKey sends a PLI unless one went out recently. Safe from any
// goroutine.
func (s *trackSink) requestKey() {
	now := s.v.cfg.Now()
	s.keyMu.Lock()
	if !s.lastKey.IsZero() && now.Sub(s.lastKey) < keyRequestInterval {
		s.keyMu.Unlock()
		return
	}
	s.lastKey = now
	s.keyMu.Unlock()
	s.t.stats.keyRequests.Add(1)
	s.keyFunc()
}

func (s *trackSink) SenderReport(ntp time.Time, rtpTS uint32) {
	s.srMu.Lock()
	s.srNTP, s.srRTP, s.haveSR = ntp, rtpTS, true
	s.srMu.Unlock()
}

// senderTime maps an RTP timestamp (90 kHz) to the sender's wall clock
// through the last sender report; zero before the first one.
func (s *trackSink) senderTime(ts uint32) time.Time {
	s.srMu.Lock()
	defer s.srMu.Unlock()
	if !s.haveSR {
		return time.Time{}
	}
	d := int64(int32(ts-s.srRTP)) * int64(time.Second) / 90000
	return s.srNTP.Add(time.Duration(d))
}

func (s *trackSink) Close() {
	close(s.frames)
	<-s.done
	s.v.detach(s.t)
	s.v.sinks.Add(-1)
}

// decodeLoop decodes the track's frames until Close. It owns the decoder.
func (s *trackSink) decodeLoop() {
	defer close(s.done)
	var dec decode.Decoder
	var mime string
	defer func() {
		if dec != nil {
			dec.Close()
			s.v.decoders.Add(-1)
		}
	}()
	st := &s.t.stats
	for f := range s.frames {
		if f.mime != mime || dec == nil {
			if dec != nil {
				dec.Close()
				s.v.decoders.Add(-1)
				dec = nil
			}
			d, err := decode.New(f.mime)
			if err != nil {
				s.v.log.Warn("video decoder", "peer", s.t.name, "err", err)
				st.decodeErrors.Add(1)
				continue
			}
			dec, mime = d, f.mime
			s.v.decoders.Add(1)
			s.t.mu.Lock()
			s.t.codec = mime
			s.t.mu.Unlock()
		}
		img, err := dec.Decode(f.data, s.t.reusable())
		switch {
		case errors.Is(err, decode.ErrNoPicture):
			continue
		case errors.Is(err, decode.ErrTooLarge):
			st.tooLarge.Add(1)
			s.wantKey.Store(true)
			continue
		case err != nil:
			st.decodeErrors.Add(1)
			s.wantKey.Store(true)
			s.requestKey()
			continue
		}
		img, resized := shrink(img)
		if resized {
			st.resized.Add(1)
		}
		st.framesDecoded.Add(1)
		s.t.push(queuedFrame{img: img, sender: s.senderTime(f.ts), decoded: s.v.cfg.Now()})
	}
}
