package peer

// senderreport.go: RTCP sender reports that map RTP time to capture time.
//
// A receiver plays a peer's audio and video in sync through the sender
// reports of each track: an SR says which RTP time of the track was the
// sender's wall-clock instant NTP. Browsers map it to when the media was
// CAPTURED. pion's report.SenderInterceptor (interceptor v0.1.51) maps it to
// when the frame's first packet was WRITTEN: it has one clock (SenderNow)
// for packets and reports, reads no attribute (pion's track writer passes
// none) and no header extension. An audio packet is written once its 20 ms
// are complete, so its first sample was captured 20 ms earlier; a video
// frame is written after encoding. A receiver then plays audio ≈ 20 ms
// late against video. This interceptor replaces pion's for the connections
// of Links (Register); pion's receiver reports stay.
//
// Where capture times come from: our tracks (capture/) note each frame's
// RTP timestamp and capture instant on the writer of every binding before
// writing its packets (capture.CaptureNoter). Links.ClockTrack gives each
// binding such a writer, which knows the binding's SSRC and hands the note
// to senderClocks, where this interceptor's stream of that SSRC keeps it.
//
// Invariants:
//   - An SR is sent once per interval per stream that has written at least
//     one packet (RFC 3550 6.4: before that, a source sends only RRs).
//   - NTP is the wall clock at the tick; RTP = anchor.rtp + (NTP −
//     anchor.at) × clock rate. The anchor is a recent noted (RTP time,
//     capture instant) of the stream, the earliest-mapping one (late notes
//     are filtered out: noteCapture); a stream nobody notes on (a track
//     not from capture) uses the first packet of its newest frame and the
//     time it was written (pion's rule).
//   - Packet and octet (payload) counts are of the packets that reach this
//     interceptor, as pion's. Retransmissions do not: they leave below it.
//   - One report goroutine per connection, started by BindRTCPWriter and
//     stopped (and waited for) by Close.

import (
	"math"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// senderReportInterval is how often each stream's SR is sent (pion's).
const senderReportInterval = time.Second

// addReports registers pion's receiver reports and our sender reports.
func addReports(ir *interceptor.Registry, clocks *senderClocks) error {
	rr, err := report.NewReceiverInterceptor()
	if err != nil {
		return err
	}
	ir.Add(rr)
	ir.Add(&senderReportFactory{clocks: clocks, interval: senderReportInterval, now: time.Now})
	return nil
}

// senderClocks routes capture notes to the sender-report stream of an
// SSRC, across the connections of one Links.
type senderClocks struct {
	mu     sync.Mutex
	bySSRC map[uint32]*srStream
}

func newSenderClocks() *senderClocks { return &senderClocks{bySSRC: map[uint32]*srStream{}} }

// note records that the media with RTP timestamp ts sent on ssrc was
// captured at at. A nil receiver or an unknown SSRC ignores it.
func (c *senderClocks) note(ssrc, ts uint32, at time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	s := c.bySSRC[ssrc]
	c.mu.Unlock()
	if s != nil {
		s.noteCapture(ts, at)
	}
}

func (c *senderClocks) add(s *srStream) {
	c.mu.Lock()
	c.bySSRC[s.ssrc] = s
	c.mu.Unlock()
}

func (c *senderClocks) remove(s *srStream) {
	c.mu.Lock()
	if c.bySSRC[s.ssrc] == s {
		delete(c.bySSRC, s.ssrc)
	}
	c.mu.Unlock()
}

// ClockTrack returns t with the capture instants its frames note
// (capture.CaptureNoter, on the writer of each binding) routed to the
// sender reports of the connection it is bound on. Peer does it for every
// track it sends (gate.go); a caller that adds tracks to connections of
// this Links itself (a WHIP publisher) wraps them with it. The result is
// only a webrtc.TrackLocal: key-frame requests and statistics go to t
// itself. A nil Links returns t.
func (ls *Links) ClockTrack(t webrtc.TrackLocal) webrtc.TrackLocal {
	if ls == nil {
		return t
	}
	return clockedTrack{TrackLocal: t, clocks: ls.clocks}
}

type clockedTrack struct {
	webrtc.TrackLocal
	clocks *senderClocks
}

// Bind binds t with a writer that takes capture notes for the binding's
// SSRC. Unbind passes through: the binding keeps pion's id.
func (c clockedTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	w := &clockWriter{TrackLocalWriter: ctx.WriteStream(), ssrc: uint32(ctx.SSRC()), clocks: c.clocks}
	return c.TrackLocal.Bind(clockedContext{TrackLocalContext: ctx, w: w})
}

type clockedContext struct {
	webrtc.TrackLocalContext
	w *clockWriter
}

func (c clockedContext) WriteStream() webrtc.TrackLocalWriter { return c.w }

// clockWriter is a binding's writer that implements capture.CaptureNoter.
type clockWriter struct {
	webrtc.TrackLocalWriter
	ssrc   uint32
	clocks *senderClocks
}

// NoteCapture notes that the frame with RTP timestamp ts was captured at
// at. It is noted whether the packets pass the mute gate or not: the
// mapping stays true while muted.
func (w *clockWriter) NoteCapture(ts uint32, at time.Time) { w.clocks.note(w.ssrc, ts, at) }

// senderReportFactory builds one senderReports per connection.
type senderReportFactory struct {
	clocks   *senderClocks
	interval time.Duration
	now      func() time.Time
}

func (f *senderReportFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &senderReports{f: f, streams: map[uint32]*srStream{}, stop: make(chan struct{})}, nil
}

// senderReports sends the SRs of one connection's local streams.
type senderReports struct {
	interceptor.NoOp
	f *senderReportFactory

	mu      sync.Mutex
	streams map[uint32]*srStream
	closed  bool
	stop    chan struct{}
	wg      sync.WaitGroup
}

// BindRTCPWriter starts the report loop (pion calls it once per connection).
func (i *senderReports) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.closed {
		return w
	}
	i.wg.Add(1)
	go i.loop(w)
	return w
}

func (i *senderReports) loop(w interceptor.RTCPWriter) {
	defer i.wg.Done()
	t := time.NewTicker(i.f.interval)
	defer t.Stop()
	for {
		select {
		case <-i.stop:
			return
		case <-t.C:
		}
		now := i.f.now()
		i.mu.Lock()
		var srs []rtcp.Packet
		for _, s := range i.streams {
			if sr := s.report(now); sr != nil {
				srs = append(srs, sr)
			}
		}
		i.mu.Unlock()
		for _, sr := range srs { // one per write, as pion does
			_, _ = w.Write([]rtcp.Packet{sr}, interceptor.Attributes{})
		}
	}
}

// BindLocalStream counts the stream's packets and keeps its anchor.
func (i *senderReports) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	s := &srStream{ssrc: info.SSRC, clockRate: float64(info.ClockRate)}
	i.mu.Lock()
	i.streams[info.SSRC] = s
	i.mu.Unlock()
	i.f.clocks.add(s)
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		s.wrote(i.f.now(), h, len(payload))
		return w.Write(h, payload, a)
	})
}

func (i *senderReports) UnbindLocalStream(info *interceptor.StreamInfo) {
	i.mu.Lock()
	s := i.streams[info.SSRC]
	delete(i.streams, info.SSRC)
	i.mu.Unlock()
	if s != nil {
		i.f.clocks.remove(s)
	}
}

// Close stops the report loop and forgets the streams.
func (i *senderReports) Close() error {
	i.mu.Lock()
	if !i.closed {
		i.closed = true
		close(i.stop)
	}
	streams := i.streams
	i.streams = map[uint32]*srStream{}
	i.mu.Unlock()
	for _, s := range streams {
		i.f.clocks.remove(s)
	}
	i.wg.Wait()
	return nil
}

// srStream is one local stream's counters and RTP ↔ wall-clock anchor.
type srStream struct {
	ssrc      uint32
	clockRate float64

	mu              sync.Mutex
	packets, octets uint32
	lastSeq         uint16
	// written: the first packet of the newest frame and its write time.
	writtenTS uint32
	writtenAt time.Time
	// captured: the kept capture anchor (noteCapture), last confirmed at
	// confirmed.
	capturedTS uint32
	capturedAt time.Time
	confirmed  time.Time
}

// wrote counts a packet; the first packet of a newer frame moves the
// write anchor (a frame's later packets and reordered ones do not).
func (s *srStream) wrote(now time.Time, h *rtp.Header, payload int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := h.SequenceNumber - s.lastSeq; s.packets == 0 || (d > 0 && d < 1<<15) {
		s.lastSeq = h.SequenceNumber
		if s.packets == 0 || h.Timestamp != s.writtenTS {
			s.writtenTS, s.writtenAt = h.Timestamp, now
		}
	}
	s.packets++
	s.octets += uint32(payload) //nolint:gosec // wraps, as RFC 3550 says
}

// Capture anchors are filtered: an instant a pipeline notes can be late
// (a device's chunk read behind schedule, a preempted goroutine), never
// early. A note that puts RTP time 0 earlier than the kept anchor, or more
// than anchorJump later (a new timeline: a restarted pipeline), replaces
// it; one within anchorAgree of it confirms it; a later one is ignored
// unless nothing confirmed the anchor for anchorWindow (the source's clock
// drifts slower than the wall clock), when it replaces it.
const (
	anchorAgree  = time.Millisecond
	anchorWindow = 2 * time.Second
	anchorJump   = 250 * time.Millisecond
)

func (s *srStream) noteCapture(ts uint32, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.capturedAt.IsZero() && s.clockRate > 0 {
		// How much later than the kept anchor this note puts RTP time 0.
		later := at.Sub(s.capturedAt) - time.Duration(float64(int32(ts-s.capturedTS))/s.clockRate*float64(time.Second))
		switch {
		case later < 0 || later > anchorJump:
		case later <= anchorAgree:
			s.confirmed = at
			return
		case at.Sub(s.confirmed) < anchorWindow:
			return
		}
	}
	s.capturedTS, s.capturedAt, s.confirmed = ts, at, at
}

// report returns the stream's SR at now, or nil before its first packet.
func (s *srStream) report(now time.Time) *rtcp.SenderReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.packets == 0 {
		return nil
	}
	ts, at := s.writtenTS, s.writtenAt
	if !s.capturedAt.IsZero() {
		ts, at = s.capturedTS, s.capturedAt
	}
	ticks := int64(math.Round(now.Sub(at).Seconds() * s.clockRate))
	return &rtcp.SenderReport{
		SSRC:        s.ssrc,
		NTPTime:     toNTP(now),
		RTPTime:     ts + uint32(ticks), //nolint:gosec // RTP time wraps
		PacketCount: s.packets,
		OctetCount:  s.octets,
	}
}

// toNTP is the inverse of ntpTime (sink.go): seconds since 1900 in the
// high 32 bits, the fraction in the low 32.
func toNTP(t time.Time) uint64 {
	const ntpEpochOffset = 2208988800          // seconds from 1900 to 1970
	secs := uint64(t.Unix() + ntpEpochOffset)  //nolint:gosec // after 1900
	frac := uint64(t.Nanosecond()) << 32 / 1e9 //nolint:gosec // < 1e9
	return secs<<32 | frac
}
