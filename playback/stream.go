package playback

// One remote Opus stream: the path of a packet from WriteRTP to the device.
//
//	WriteRTP (the track's reader goroutine)
//	  → checks: payload type, size, Opus TOC          (else dropped, counted)
//	  → jitter buffer: too late / duplicate / overflow (dropped, counted)
//	read (the output's goroutine or audio thread, every device period)
//	  → not started: silence until the buffer holds the target delay
//	  → the next frame is there: decode it
//	  → it is missing but later ones are there: recover it from the next
//	    packet's in-band FEC, or conceal (PLC); the timeline moves on
//	  → nothing is there (underrun): conceal without moving the timeline,
//	    so the delay grows by what was concealed; after maxConceal of that,
//	    stop and buffer again
//	  → decoded samples wait in pcm until the device takes them; the hand-off
//	    time minus each packet's arrival is the playout delay
//
// Invariants: every field below mu is touched only under mu; read never
// blocks on anything but mu, and WriteRTP holds mu only to store a packet,
// so a flood on one stream costs the audio thread nothing on the others.
// After Close the decoder is freed and the stream is out of the mixer.

import (
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/pion/rtp"

	"github.com/videochat/videochat/capture/opus"
)

const (
	maxConceal     = 300 * time.Millisecond // underrun concealment before re-buffering
	accelWindow    = Rate / 10              // samples of play over which the buffer must stay high to drop a frame
	farAheadResync = 8                      // consecutive packets past maxSpan that mean the sender restarted
	flushExcess    = 150 * time.Millisecond // buffered beyond the target that is dropped at once (e.g. after the device stalled)
)

// Track describes a remote audio track for the mixer.
type Track struct {
	PeerID, PeerName string
	// PayloadType is the negotiated Opus payload type; other payload types
	// are dropped and counted (a codec switch the mixer cannot follow).
	PayloadType uint8
}

// StreamStats are one stream's counters, named after the WebRTC stats of
// inbound-rtp audio where one exists.
type StreamStats struct {
	PeerID   string `json:"peer_id"`
	PeerName string `json:"peer_name"`

	PacketsReceived uint64 `json:"packets_received"`
	PacketsDecoded  uint64 `json:"packets_decoded"`
	// Dropped packets, by reason.
	DroppedMalformed uint64 `json:"dropped_malformed"` // empty, oversized or not Opus
	DroppedCodec     uint64 `json:"dropped_codec"`     // another payload type
	DroppedLate      uint64 `json:"dropped_late"`      // arrived after its time was played
	DroppedDuplicate uint64 `json:"dropped_duplicate"`
	DroppedOverflow  uint64 `json:"dropped_overflow"` // buffer full (flood)
	DecodeErrors     uint64 `json:"decode_errors"`    // libopus refused a stored packet (concealed)
	Resyncs          uint64 `json:"resyncs"`          // timeline restarted (sender jumped)

	TotalSamples     uint64 `json:"total_samples_received"` // samples played, real or concealed
	ConcealedSamples uint64 `json:"concealed_samples"`
	FECSamples       uint64 `json:"fec_samples"` // lost frames recovered from the next packet's in-band FEC (not counted as concealed)
	RemovedSamples   uint64 `json:"removed_samples_for_acceleration"`
	Underruns        uint64 `json:"underruns"`

	// JitterBufferDelay is the sum over emitted samples of (hand-off to the
	// device − packet arrival), in seconds; divided by
	// JitterBufferEmittedCount it is the mean playout delay, as in
	// Chromium's getStats().
	JitterBufferDelay        float64 `json:"jitter_buffer_delay"`
	JitterBufferEmittedCount uint64  `json:"jitter_buffer_emitted_count"`
	TargetDelayMillis        float64 `json:"target_delay_ms"`
	Level                    float64 `json:"audio_level"` // 0..1, RMS of the last played audio
	// HeardLagMillis is now − SenderTimeNow: how long ago, on the sender's
	// clock, what is heard now was captured (mouth to ear, less the
	// sender's capture and encode). 0 while SenderTimeNow is not known.
	HeardLagMillis float64 `json:"heard_lag_ms,omitempty"`
}

// pcmChunk is decoded audio waiting for the device.
type pcmChunk struct {
	buf     []int16   // the whole buffer, for the pool
	s       []int16   // what is left to hand out
	arrival time.Time // of the packet it came from; zero for silence and concealment
	ts      int64     // media time of s[0]
	real    bool      // decoded from a packet (FEC included)
}

// Stream is one remote audio track in the mixer. It implements the
// WriteRTP/SenderReport/Close contract of peer.TrackSink.
type Stream struct {
	track Track
	mx    *Mixer
	log   *slog.Logger

	mu        sync.Mutex
	dec       *opus.Decoder
	jb        *jitterBuffer
	playing   bool
	next      int64 // media time of the next sample to decode
	pcm       []pcmChunk
	pool      [][]int16 // spare sample buffers
	underrun  int       // samples concealed in the current underrun
	minLevel  int       // lowest buffer level (samples) in the current accelWindow
	played    int       // samples played in the current accelWindow
	farAhead  int
	lastFrame int
	level     float64
	st        StreamStats
	sr        senderReport
	anchor    playAnchor
	closed    bool
}

type senderReport struct {
	ntp time.Time
	rtp uint32
	ok  bool
}

// playAnchor is the latest hand-off of decoded audio: media time ts went
// to the device at time at.
type playAnchor struct {
	at time.Time
	ts int64
	ok bool
}

func newStream(t Track, mx *Mixer, log *slog.Logger) (*Stream, error) {
	dec, err := opus.NewDecoder(1)
	if err != nil {
		return nil, err
	}
	return &Stream{
		track: t, mx: mx, log: log, dec: dec, jb: newJitterBuffer(),
		lastFrame: Rate / 50, minLevel: math.MaxInt,
		st: StreamStats{PeerID: t.PeerID, PeerName: t.PeerName},
	}, nil
}

// WriteRTP stores one packet. It never blocks for long and drops what it
// cannot play, counting it.
func (s *Stream) WriteRTP(pkt *rtp.Packet) {
	now := s.mx.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || pkt == nil {
		return
	}
	s.st.PacketsReceived++
	if pkt.PayloadType != s.track.PayloadType {
		s.st.DroppedCodec++
		return
	}
	if len(pkt.Payload) == 0 || len(pkt.Payload) > maxPayload {
		s.st.DroppedMalformed++
		return
	}
	n, err := packetSamples(pkt.Payload)
	if err != nil {
		s.st.DroppedMalformed++
		return
	}
	ts := s.jb.extend(pkt.Timestamp)
	if s.playing {
		if ts+int64(n) <= s.next {
			s.st.DroppedLate++
			return
		}
		if ts > s.next+maxSpan {
			s.st.DroppedOverflow++
			if s.farAhead++; s.farAhead < farAheadResync {
				return
			}
			s.restart()
			s.st.Resyncs++
			s.jb = newJitterBuffer() // a new timeline: forget the old unwrap and delays
			ts = s.jb.extend(pkt.Timestamp)
		}
	}
	s.farAhead = 0
	ok, overflow := s.jb.insert(jbPacket{ts: ts, samples: n, payload: pkt.Payload, arrival: now})
	s.st.DroppedOverflow += uint64(overflow)
	if !ok {
		s.st.DroppedDuplicate++
		return
	}
	s.jb.observe(ts, now)
}

// SenderReport records the sender's wall clock at an RTP timestamp.
func (s *Stream) SenderReport(ntp time.Time, rtpTS uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sr = senderReport{ntp: ntp, rtp: rtpTS, ok: true}
}

// Close takes the stream out of the mixer and frees its decoder.
func (s *Stream) Close() {
	s.mx.remove(s)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	s.dec.Close()
	s.jb.reset()
	s.pcm = nil
}

// restart stops playout; the stream buffers again from the next packet.
func (s *Stream) restart() {
	s.playing = false
	s.underrun = 0
	s.jb.reset()
	s.anchor.ok = false
}

// mixInto adds the stream's next len(out) samples to out. now is the time
// of the hand-off to the device.
func (s *Stream) mixInto(out []int32, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	var sum, count float64
	first := true
	for filled := 0; filled < len(out); {
		for len(s.pcm) == 0 {
			s.produce(len(out) - filled)
		}
		c := &s.pcm[0]
		k := min(len(c.s), len(out)-filled)
		for i, v := range c.s[:k] {
			out[filled+i] += int32(v)
			sum += float64(v) * float64(v)
		}
		count += float64(k)
		if c.real {
			if first {
				s.anchor = playAnchor{at: now, ts: c.ts - int64(filled), ok: true}
				first = false
			}
			s.st.JitterBufferDelay += now.Sub(c.arrival).Seconds() * float64(k)
			s.st.JitterBufferEmittedCount += uint64(k)
		}
		if s.playing || c.real {
			s.st.TotalSamples += uint64(k)
		}
		c.s = c.s[k:]
		c.ts += int64(k)
		filled += k
		if len(c.s) == 0 {
			s.recycle(s.pcm[0])
			s.pcm = s.pcm[1:]
		}
	}
	if count > 0 {
		s.level = math.Sqrt(sum/count) / math.MaxInt16
	}
}

// produce appends at least one chunk of audio to pcm; want is how many
// samples the device still waits for (used for silence before start).
func (s *Stream) produce(want int) {
	if !s.playing {
		p, ok := s.jb.first()
		if !ok || time.Duration(s.jb.span(p.ts))*time.Second/Rate < s.jb.target {
			s.pushSilence(want)
			return
		}
		s.playing, s.next, s.underrun = true, p.ts, 0
		s.minLevel, s.played = math.MaxInt, 0
	}
	s.st.DroppedLate += uint64(s.jb.popBefore(s.next))
	s.flush()
	p, ok := s.jb.first()
	switch {
	case !ok: // underrun: conceal in place, the delay grows by what is concealed
		if time.Duration(s.underrun)*time.Second/Rate >= maxConceal {
			s.restart()
			s.pushSilence(want)
			return
		}
		if s.underrun == 0 {
			s.st.Underruns++
		}
		// Conceal only what the device waits for (in 2.5 ms steps, at most a
		// frame), so a packet that is just late is played as soon as it comes.
		n := s.conceal(nil, min(max(120, (want+119)/120*120), s.lastFrame), false, s.next)
		s.underrun += n
	case p.ts > s.next: // lost: recover from the next packet's FEC or conceal, the timeline moves on
		gap := int(min(p.ts-s.next, int64(s.lastFrame)))
		gap = max(120, (gap+119)/120*120) // libopus conceals in steps of 2.5 ms
		fec := p.ts-s.next == int64(gap)
		n := s.conceal(p.payload, gap, fec, s.next)
		if fec {
			s.pcm[len(s.pcm)-1].arrival = p.arrival
		}
		s.next += int64(n)
	default: // p.ts <= s.next: the frame we want (or one overlapping it)
		s.jb.pop()
		s.decode(p)
	}
}

// flush drops the oldest packets (decoding them, to keep the decoder's
// state continuous) when the buffer holds far more than the target, as
// after the device or the network stalled and then delivered in a burst.
func (s *Stream) flush() {
	target := int(s.jb.target * Rate / time.Second)
	if s.jb.span(s.next) <= target+int(flushExcess*Rate/time.Second) {
		return
	}
	scratch := s.buffer(Rate * 120 / 1000)
	for s.jb.span(s.next) > target+s.lastFrame {
		p := s.jb.pop()
		_, _ = s.dec.Decode(p.payload, scratch[:p.samples], false)
		s.st.RemovedSamples += uint64(p.samples)
		s.next = max(s.next, p.end())
	}
	s.recycle(pcmChunk{buf: scratch})
}

// decode plays one packet and keeps the buffer near its target by
// dropping a frame when it stayed too full for a whole accelWindow.
func (s *Stream) decode(p jbPacket) {
	level := s.jb.span(s.next) + p.samples
	buf := s.buffer(p.samples)
	n, err := s.dec.Decode(p.payload, buf, false)
	s.underrun = 0
	if err != nil || n == 0 {
		s.st.DecodeErrors++
		s.recycle(pcmChunk{buf: buf})
		n = s.conceal(nil, p.samples, false, p.ts)
		s.next = max(s.next, p.ts+int64(n))
		return
	}
	s.st.PacketsDecoded++
	s.lastFrame = n
	s.next = max(s.next, p.ts+int64(n))
	s.minLevel = min(s.minLevel, level)
	s.played += n
	if s.played >= accelWindow {
		excess := time.Duration(s.minLevel-n)*time.Second/Rate - s.jb.target
		s.minLevel, s.played = math.MaxInt, 0
		if excess >= time.Duration(n)*time.Second/Rate {
			s.st.RemovedSamples += uint64(n)
			s.recycle(pcmChunk{buf: buf})
			return
		}
	}
	s.pcm = append(s.pcm, pcmChunk{buf: buf, s: buf[:n], arrival: p.arrival, ts: p.ts, real: true})
}

// conceal produces n samples for media time ts: from pkt's in-band FEC
// when fec is set, else by libopus's loss concealment.
func (s *Stream) conceal(pkt []byte, n int, fec bool, ts int64) int {
	buf := s.buffer(n)
	var err error
	if fec {
		_, err = s.dec.Decode(pkt, buf, true)
	} else {
		_, err = s.dec.Decode(nil, buf, false)
	}
	if err != nil {
		clear(buf)
	}
	if fec && err == nil {
		s.st.FECSamples += uint64(n)
	} else {
		s.st.ConcealedSamples += uint64(n)
	}
	s.pcm = append(s.pcm, pcmChunk{buf: buf, s: buf, ts: ts, real: fec && err == nil})
	return n
}

func (s *Stream) pushSilence(n int) {
	buf := s.buffer(n)
	clear(buf)
	s.pcm = append(s.pcm, pcmChunk{buf: buf, s: buf})
}

// buffer returns a sample buffer of length n from the pool.
func (s *Stream) buffer(n int) []int16 {
	for i := len(s.pool) - 1; i >= 0; i-- {
		if b := s.pool[i]; cap(b) >= n {
			s.pool = append(s.pool[:i], s.pool[i+1:]...)
			return b[:n]
		}
	}
	return make([]int16, n, max(n, Rate*120/1000))
}

func (s *Stream) recycle(c pcmChunk) {
	if len(s.pool) < 8 && c.buf != nil {
		s.pool = append(s.pool, c.buf[:0])
	}
}

// stats returns a copy of the counters at time now.
func (s *Stream) stats(now time.Time, latency time.Duration) StreamStats {
	heard, ok := s.senderTimeAt(now, latency)
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	st.TargetDelayMillis = float64(s.jb.target) / float64(time.Millisecond)
	st.Level = s.level
	if ok {
		st.HeardLagMillis = float64(now.Sub(heard)) / float64(time.Millisecond)
	}
	return st
}

// senderTimeAt maps what is heard at time now (hand-off plus latency) to
// the sender's wall clock.
func (s *Stream) senderTimeAt(now time.Time, latency time.Duration) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.sr.ok || !s.anchor.ok || !s.playing || now.Sub(s.anchor.at) > maxConceal {
		return time.Time{}, false
	}
	media := time.Duration(int32(uint32(s.anchor.ts)-s.sr.rtp)) * time.Second / Rate
	return s.sr.ntp.Add(media + now.Sub(s.anchor.at) - latency), true
}
