package peer

// nackgenerator.go: asks the remote sender for the video packets we did not
// receive (RTCP NACK, RFC 4585), and stops asking once they arrive, also
// when they arrive as RTX (RFC 4588).
//
// It replaces pion's generator (interceptor/pkg/nack), which keeps the
// same receive log but never sees a packet repaired through RTX: pion
// binds the RTX stream as a stream of its own, without NACK feedback, and
// hands its packets to the track outside the media stream's interceptors.
// So pion's generator asked for every repaired packet again every 100 ms
// until its cap, and a sender that answers each NACK (ours sends two RTX
// copies on a steady lossy link, Chromium one) sent each lost packet up to
// 10 times (BENCHMARKS.md).
//
// Invariants:
//   - One generator per PeerConnection; one receive log per remote stream
//     with NACK feedback ("primary"), the last nackWindow sequence numbers.
//     A packet older than that is never asked for; a jump forward of more
//     than the window restarts the log (nothing before it is asked for).
//   - An RTX stream (MIME video/rtx) is only observed: its packets pass up
//     unchanged. Each one's original sequence number (the first 2 bytes of
//     its payload) marks that packet received in its primary's log. The
//     RTX SSRC → primary mapping comes from the primary's StreamInfo
//     (SSRCRetransmission) when pion sets it; pion v4 does not on the
//     receive side, so otherwise it is learnt from the first RTX packet
//     whose original sequence number exactly one primary has outstanding
//     in a NACK. Until mapped, RTX packets are not counted. (A simulcast
//     layer's RTX, found by its repaired-rid, is bound by pion as a video
//     stream before it is known to be RTX: it is logged as a primary, as
//     pion's generator did.)
//   - A missing packet is asked for at most maxNacks times, no sooner than
//     the retry interval after its previous NACK: nackInterval, or 1.25 x
//     the repair round trip once one is measured (a NACK asked once to its
//     RTX, smoothed; at most maxNackRetry), so a far sender is not asked
//     again before its answer can arrive. Once received or out of the
//     window a packet is forgotten.
//   - One goroutine per generator, the ticker, started when the RTCP
//     writer and a first primary stream are both bound (a connection that
//     only sends runs none) and stopped by Close.

import (
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

const (
	// nackWindow is the receive log's length in packets (as pion's), a
	// multiple of 64.
	nackWindow = 512
	// nackInterval is how often missing packets are looked for.
	nackInterval = 100 * time.Millisecond
	// maxNackRetry bounds the retry interval however long the measured
	// repair round trip.
	maxNackRetry = 500 * time.Millisecond
)

// receiveLog records which of the last nackWindow sequence numbers of one
// stream arrived. Not safe for concurrent use: its owner locks.
type receiveLog struct {
	bits    [nackWindow / 64]uint64
	started bool
	end     uint16 // newest sequence number received
	// upTo: every sequence number up to it is received or given up;
	// end-upTo < nackWindow.
	upTo uint16
}

func (l *receiveLog) has(seq uint16) bool {
	i := seq % nackWindow
	return l.bits[i/64]&(1<<(i%64)) != 0
}

func (l *receiveLog) set(seq uint16, on bool) {
	i := seq % nackWindow
	if on {
		l.bits[i/64] |= 1 << (i % 64)
	} else {
		l.bits[i/64] &^= 1 << (i % 64)
	}
}

// add records seq as received.
func (l *receiveLog) add(seq uint16) {
	if !l.started {
		l.started, l.end, l.upTo = true, seq, seq
		l.set(seq, true)
		return
	}
	d := seq - l.end
	switch {
	case d == 0:
		return
	case d < 0x8000 && d >= nackWindow: // a jump past the window: restart
		l.bits = [nackWindow / 64]uint64{}
		l.end, l.upTo = seq, seq
	case d < 0x8000: // newer
		for s := l.end + 1; s != seq; s++ {
			l.set(s, false) // may still hold a bit from a window ago
		}
		l.end = seq
		if seq-l.upTo >= nackWindow {
			l.upTo = seq - nackWindow + 1 // the oldest ones leave the window
		}
	default: // older than end: a late or repaired packet
		if seq-l.upTo == 0 || seq-l.upTo >= 0x8000 || l.end-seq >= nackWindow {
			return // already counted, or out of the window
		}
	}
	l.set(seq, true)
	for l.upTo != l.end && l.has(l.upTo+1) {
		l.upTo++
	}
}

// missing appends to dst the sequence numbers in the window not received,
// oldest first.
func (l *receiveLog) missing(dst []uint16) []uint16 {
	if !l.started || l.upTo == l.end {
		return dst
	}
	for s := l.upTo + 1; s != l.end; s++ {
		if !l.has(s) {
			dst = append(dst, s)
		}
	}
	return dst
}

// NACKGeneratorConfig configures NewNACKGenerator.
type NACKGeneratorConfig struct {
	// MaxNacks is how often a lost packet is asked for at most; default
	// 5 (as in calls).
	MaxNacks int
	Logger   *slog.Logger
}

// NewNACKGenerator returns the NACK generator of this file, for a
// registry that does not use Links.Register (which adds it): the WHIP
// server's. Register NACK feedback for video on the media engine.
func NewNACKGenerator(cfg NACKGeneratorConfig) interceptor.Factory {
	if cfg.MaxNacks <= 0 {
		cfg.MaxNacks = maxNacksPerPacket
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return nackGenFactory{maxNacks: cfg.MaxNacks, log: cfg.Logger}
}

// nackGenFactory makes one nackGenerator per PeerConnection.
type nackGenFactory struct {
	maxNacks int
	retry    time.Duration // default nackInterval
	log      *slog.Logger
}

func (f nackGenFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	retry := f.retry
	if retry <= 0 {
		retry = nackInterval
	}
	return &nackGenerator{maxNacks: f.maxNacks, retry: retry, log: f.log,
		primaries: map[uint32]*nackStream{}, rtxOf: map[uint32]uint32{}, closed: make(chan struct{})}, nil
}

// nackStream is one primary stream's receive log and what was asked.
type nackStream struct {
	log   receiveLog
	asked map[uint16]*nackAsk
}

type nackAsk struct {
	n    int
	last time.Time
	tick uint64 // the last tick that saw it missing
}

type nackGenerator struct {
	interceptor.NoOp
	maxNacks int
	retry    time.Duration
	log      *slog.Logger

	mu        sync.Mutex
	primaries map[uint32]*nackStream // by media SSRC
	rtxOf     map[uint32]uint32      // RTX SSRC → media SSRC, once known
	srtt      time.Duration          // smoothed repair round trip; 0: none yet
	writer    interceptor.RTCPWriter
	running   bool
	closed    chan struct{}
	wg        sync.WaitGroup
}

func isRTX(info *interceptor.StreamInfo) bool {
	return strings.EqualFold(info.MimeType, webrtc.MimeTypeRTX)
}

func wantsNack(info *interceptor.StreamInfo) bool {
	for _, fb := range info.RTCPFeedback {
		if fb.Type == "nack" && fb.Parameter == "" {
			return true
		}
	}
	return false
}

func (g *nackGenerator) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	g.mu.Lock()
	g.writer = w
	g.startLocked()
	g.mu.Unlock()
	return w
}

// startLocked starts the ticker once there is something to ask and a way
// to ask it.
func (g *nackGenerator) startLocked() {
	if g.running || g.writer == nil || len(g.primaries) == 0 {
		return
	}
	select {
	case <-g.closed:
		return
	default:
	}
	g.running = true
	g.wg.Add(1)
	go g.loop(g.writer)
}

func (g *nackGenerator) BindRemoteStream(info *interceptor.StreamInfo, r interceptor.RTPReader) interceptor.RTPReader {
	switch {
	case isRTX(info):
		return g.observeRTX(info.SSRC, r)
	case wantsNack(info):
		s := &nackStream{asked: map[uint16]*nackAsk{}}
		g.mu.Lock()
		g.primaries[info.SSRC] = s
		if info.SSRCRetransmission != 0 {
			g.rtxOf[info.SSRCRetransmission] = info.SSRC
		}
		g.startLocked()
		g.mu.Unlock()
		return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
			n, a, err := r.Read(b, a)
			if err != nil {
				return n, a, err
			}
			if a == nil {
				a = interceptor.Attributes{}
			}
			h, err := a.GetRTPHeader(b[:n])
			if err != nil {
				return 0, nil, err
			}
			g.mu.Lock()
			s.log.add(h.SequenceNumber)
			g.mu.Unlock()
			return n, a, nil
		})
	default:
		return r
	}
}

// observeRTX passes the RTX stream's packets up unchanged, marking each
// one's original packet received.
func (g *nackGenerator) observeRTX(rtxSSRC uint32, r interceptor.RTPReader) interceptor.RTPReader {
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, a, err := r.Read(b, a)
		if err != nil {
			return n, a, err
		}
		if osn, ok := rtxOSN(b[:n]); ok {
			g.repaired(rtxSSRC, osn, time.Now())
		}
		return n, a, nil
	})
}

// rtxOSN returns the original sequence number an RTX packet carries; ok is
// false for a malformed packet or one with no payload (padding only: a
// bandwidth probe).
func rtxOSN(pkt []byte) (osn uint16, ok bool) {
	var h rtp.Header
	hl, err := h.Unmarshal(pkt)
	if err != nil {
		return 0, false
	}
	end := len(pkt)
	if h.Padding && end > hl {
		end -= int(pkt[end-1])
	}
	if end-hl < 2 {
		return 0, false
	}
	return uint16(pkt[hl])<<8 | uint16(pkt[hl+1]), true
}

// repaired marks osn, arrived at now, received in the primary stream of
// rtxSSRC, learning the mapping if needed (see the file comment) and
// measuring the repair round trip.
func (g *nackGenerator) repaired(rtxSSRC uint32, osn uint16, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	media, ok := g.rtxOf[rtxSSRC]
	if !ok {
		found := 0
		for ssrc, s := range g.primaries {
			if s.asked[osn] != nil {
				media, found = ssrc, found+1
			}
		}
		if found != 1 {
			return
		}
		g.rtxOf[rtxSSRC] = media
	}
	s := g.primaries[media]
	if s == nil {
		return
	}
	if a := s.asked[osn]; a != nil && a.n == 1 { // unambiguous: asked once
		sample := now.Sub(a.last)
		if g.srtt == 0 {
			g.srtt = sample
		} else {
			g.srtt += (sample - g.srtt) / 8
		}
	}
	s.log.add(osn)
}

func (g *nackGenerator) UnbindRemoteStream(info *interceptor.StreamInfo) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.primaries, info.SSRC)
	delete(g.rtxOf, info.SSRC)
	for rtx, media := range g.rtxOf {
		if media == info.SSRC {
			delete(g.rtxOf, rtx)
		}
	}
}

func (g *nackGenerator) Close() error {
	g.mu.Lock()
	select {
	case <-g.closed:
	default:
		close(g.closed)
	}
	g.mu.Unlock()
	g.wg.Wait()
	return nil
}

func (g *nackGenerator) loop(w interceptor.RTCPWriter) {
	defer g.wg.Done()
	sender := rand.Uint32()
	t := time.NewTicker(nackInterval)
	defer t.Stop()
	var tick uint64
	var scratch []uint16
	for {
		select {
		case <-g.closed:
			return
		case now := <-t.C:
			tick++
			var pkts []rtcp.Packet
			pkts, scratch = g.nacks(now, tick, sender, scratch)
			if len(pkts) == 0 {
				continue
			}
			if _, err := w.Write(pkts, interceptor.Attributes{}); err != nil {
				g.log.Debug("writing NACKs", "err", err)
			}
		}
	}
}

// nacks returns the NACKs due at now, one per stream with packets to ask
// for; buf is scratch space, returned for reuse.
func (g *nackGenerator) nacks(now time.Time, tick uint64, sender uint32, buf []uint16) ([]rtcp.Packet, []uint16) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var pkts []rtcp.Packet
	retry := max(g.retry, min(g.srtt+g.srtt/4, maxNackRetry))
	for ssrc, s := range g.primaries {
		buf = s.log.missing(buf[:0])
		due := buf[:0] // filtered in place
		for _, seq := range buf {
			a := s.asked[seq]
			if a == nil {
				a = &nackAsk{}
				s.asked[seq] = a
			}
			a.tick = tick
			// A tick may fire a little early: allow a quarter of nackInterval.
			if a.n >= g.maxNacks || (a.n > 0 && now.Sub(a.last) < retry-nackInterval/4) {
				continue
			}
			a.n++
			a.last = now
			due = append(due, seq)
		}
		for seq, a := range s.asked {
			if a.tick != tick { // received or out of the window
				delete(s.asked, seq)
			}
		}
		if len(due) > 0 {
			pkts = append(pkts, &rtcp.TransportLayerNack{SenderSSRC: sender, MediaSSRC: ssrc,
				Nacks: rtcp.NackPairsFromSequenceNumbers(due)})
		}
	}
	return pkts, buf
}
