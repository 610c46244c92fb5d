package peer

// links.go: what each PeerConnection's link can carry, and what it did.
//
// Links builds the interceptors of every PeerConnection made by one
// *webrtc.API (Register) and keeps, per PeerConnection, the send-side
// bandwidth estimate and counters. The video encoder asks Target for the
// estimate of the binding it writes to (by the sender's SSRC); Stats reads
// the counters for --stats-json.
//
// Invariants:
//   - One link per PeerConnection (interceptor chain), created when pion
//     builds the chain and dropped when pion closes it.
//   - The estimate is Google congestion control fed by TWCC feedback:
//     pion's gcc for the delay-based part, estimator.go for the loss-based
//     part (pion's ratchets down under steady random loss). A peer that sends REMB but no TWCC gets its REMB value
//     instead; a peer that sends neither (after linkGrace) is unknown, and
//     the encoder uses its ceiling.
//   - Every outgoing packet of a connection (media, RTX, audio) goes
//     through the pacer at 1.5 x the estimate; the pacer renumbers the
//     transport-wide sequence in sending order (pacer.go) and
//     remembers what each number carried, so the NACK responder can resend
//     what TWCC feedback reports lost (twccresend.go).
//   - Audio is protected first: video is given the estimate minus
//     AudioReserve (its share, also the resend budget); the encoder gets
//     the share minus what was retransmitted over the last second (at
//     most half of it), so video and its repairs together fit the share.
//   - Interceptor order (first added is closest to the network): gcc
//     (pacer), link counters, TWCC sequence numbers, then the NACK
//     responder (nackresponder.go) and generator (nackgenerator.go), RTCP reports
//     (pion's receiver reports, our sender reports of capture time:
//     senderreport.go) and statistics (retransmissions are paced and
//     counted as RTX bytes).

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/interceptor/pkg/stats"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Defaults of LinksConfig.
const (
	DefaultAudioReserve = 48_000
	// linkGrace is how long a link may go without any feedback before its
	// estimate is reported unknown; also how long REMB or TWCC counts as
	// "seen".
	linkGrace = 5 * time.Second
	// maxNacksPerPacket: a lost packet is asked for at most this often.
	maxNacksPerPacket = 5
)

// LinksConfig configures Links.
type LinksConfig struct {
	// Ceiling is the highest video estimate reported (--video-bitrate),
	// bits/s. Required.
	Ceiling int
	// Start is gcc's initial estimate for video; default min(Ceiling, 600k).
	Start int
	// AudioReserve is kept for audio out of every estimate; default
	// DefaultAudioReserve.
	AudioReserve int
	// Logger receives the links' logs; nil discards them.
	Logger *slog.Logger
}

// Links holds the per-PeerConnection congestion control and counters.
type Links struct {
	cfg LinksConfig
	log *slog.Logger

	mu      sync.Mutex
	byPC    map[string]*link
	bySSRC  map[uint32]*link      // local media SSRCs
	streams map[uint32]streamMeta // local SSRCs, RTX included
	clocks  *senderClocks         // capture times for the sender reports
}

// streamMeta describes a local SSRC for the pacer.
type streamMeta struct {
	media uint32 // the media SSRC (itself, or the one an RTX SSRC repairs)
	audio bool
	twcc  uint8 // header extension ID of the transport-wide sequence number, 0 if none
}

// mediaOf implements streamKinds.
func (ls *Links) mediaOf(ssrc uint32) (uint32, bool) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	m := ls.streams[ssrc]
	return m.media, m.audio
}

// twccExt implements streamKinds.
func (ls *Links) twccExt(ssrc uint32) uint8 {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.streams[ssrc].twcc
}

// link is one PeerConnection's state.
type link struct {
	created time.Time
	bwe     cc.BandwidthEstimator // guarded by Links.mu; set when the chain is built
	stats   stats.Getter          // guarded by Links.mu

	twccAt, rembAt atomic.Int64 // unix nanos of the last TWCC / REMB
	remb           atomic.Int64 // bits/s of the last REMB
	nacks, plis    atomic.Uint64
	rtxBytes       atomic.Uint64
	// feedbackResends: packets resent from TWCC feedback (twccresend.go).
	feedbackResends atomic.Uint64
}

// NewLinks returns Links for cfg.
func NewLinks(cfg LinksConfig) *Links {
	if cfg.AudioReserve <= 0 {
		cfg.AudioReserve = DefaultAudioReserve
	}
	if cfg.Start <= 0 {
		cfg.Start = min(cfg.Ceiling, 600_000)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Links{cfg: cfg, log: log, byPC: map[string]*link{}, bySSRC: map[uint32]*link{}, streams: map[uint32]streamMeta{}, clocks: newSenderClocks()}
}

// Register adds to me and ir everything a call needs: NACK generator and
// responder (ours), RTCP reports, TWCC feedback for what we receive
// (twccfeedback.go), TWCC sequence numbers on what we send, per-link
// statistics, and send-side congestion control with pacing. Call it
// after registering the codecs, instead of
// webrtc.RegisterDefaultInterceptors.
func (ls *Links) Register(me *webrtc.MediaEngine, ir *interceptor.Registry) error {
	return ls.RegisterWith(me, ir, TWCCFeedbackConfig{})
}

// RegisterWith is Register with the TWCC feedback's configuration: its
// Arrival gives the time packets reached the host when reads are batched
// (internal/rxbatch's Arrivals), so the remote senders' congestion control
// does not see the batching.
func (ls *Links) RegisterWith(me *webrtc.MediaEngine, ir *interceptor.Registry, twcc TWCCFeedbackConfig) error {
	ccf, err := cc.NewInterceptor(func() (cc.BandwidthEstimator, error) {
		return newEstimator(ls.cfg.Start+ls.cfg.AudioReserve, ls.cfg.AudioReserve+30_000, ls.cfg.Ceiling+ls.cfg.AudioReserve, ls)
	})
	if err != nil {
		return err
	}
	ccf.OnNewPeerConnection(func(id string, e cc.BandwidthEstimator) {
		l := ls.link(id)
		ls.mu.Lock()
		l.bwe = e
		ls.mu.Unlock()
	})
	ir.Add(ccf)
	ir.Add(linkFactory{ls})
	if err := webrtc.ConfigureTWCCHeaderExtensionSender(me, ir); err != nil {
		return err
	}
	me.RegisterFeedback(webrtc.RTCPFeedback{Type: "nack"}, webrtc.RTPCodecTypeVideo)
	me.RegisterFeedback(webrtc.RTCPFeedback{Type: "nack", Parameter: "pli"}, webrtc.RTPCodecTypeVideo)
	ir.Add(nackResponderFactory{ls}) // ours, not pion's: nackresponder.go
	// Ours too, not pion's, which never sees RTX repairs: nackgenerator.go.
	ir.Add(nackGenFactory{maxNacks: maxNacksPerPacket, log: ls.log})
	if err := addReports(ir, ls.clocks); err != nil { // senderreport.go: SRs of capture time
		return err
	}
	if err := webrtc.ConfigureSimulcastExtensionHeaders(me); err != nil {
		return err
	}
	sf, err := stats.NewInterceptor()
	if err != nil {
		return err
	}
	sf.OnNewPeerConnection(func(id string, g stats.Getter) {
		l := ls.link(id)
		ls.mu.Lock()
		l.stats = g
		ls.mu.Unlock()
	})
	ir.Add(sf)
	return ConfigureTWCCFeedback(me, ir, twcc)
}

// link returns the link of PeerConnection id, creating it. pion builds a
// connection's chain (and calls this) before the connection is used.
func (ls *Links) link(id string) *link {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	l := ls.byPC[id]
	if l == nil {
		l = &link{created: time.Now()}
		ls.byPC[id] = l
	}
	return l
}

func (ls *Links) lookup(pcID string) *link {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.byPC[pcID]
}

// Target returns the encoder's target for video on the connection that
// sends the stream ssrc, in bits/s: the video's share of the estimate
// (at most the ceiling) less what the connection retransmitted over the
// last second, which the encoder pays for (at most half the share, as
// libwebrtc caps its protection overhead). ok is false when the SSRC is
// unknown or the remote gives no feedback at all.
//
// Without the deduction, behind a bottleneck that has just filled, the
// retransmissions of what its queue dropped went out on top of the
// encoder's full target: 1–1.6 × the estimate of RTX besides the video
// for the first 5–7 s of a 500 kbit/s limit (BENCHMARKS.md, "Paying for
// the retransmissions"), which kept the queue full.
func (ls *Links) Target(ssrc uint32) (bps int, ok bool) {
	l := ls.bySSRCLink(ssrc)
	if l == nil {
		return 0, false
	}
	now := time.Now()
	t, ok := ls.target(l, now)
	if !ok {
		return 0, false
	}
	return t - min(ls.resent(l, now), t/2), true
}

// videoShare returns the video's share of the estimate of the connection
// that sends ssrc (Target before the retransmissions are deducted): the
// NACK responder's resend budget.
func (ls *Links) videoShare(ssrc uint32) (int, bool) {
	l := ls.bySSRCLink(ssrc)
	if l == nil {
		return 0, false
	}
	return ls.target(l, time.Now())
}

func (ls *Links) bySSRCLink(ssrc uint32) *link {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.bySSRC[ssrc]
}

// resent returns the bits/s of retransmissions the connection's pacer let
// out over the last second (0 without our estimator: no send log).
func (ls *Links) resent(l *link, now time.Time) int {
	bwe, _ := ls.parts(l)
	e, ok := bwe.(*estimator)
	if !ok {
		return 0
	}
	return e.pacer.sent.sentRates(now, time.Second)[classRTX]
}

func (ls *Links) target(l *link, now time.Time) (int, bool) {
	bwe, _ := ls.parts(l)
	recent := func(at *atomic.Int64) bool {
		ns := at.Load()
		return ns != 0 && now.Sub(time.Unix(0, ns)) < linkGrace
	}
	var est int
	switch {
	case recent(&l.twccAt) && bwe != nil:
		est = bwe.GetTargetBitrate()
	case recent(&l.rembAt):
		est = int(l.remb.Load())
	case now.Sub(l.created) < linkGrace && bwe != nil:
		est = bwe.GetTargetBitrate() // no feedback yet: gcc's start
	default:
		return 0, false
	}
	return min(max(est-ls.cfg.AudioReserve, 0), ls.cfg.Ceiling), true
}

// SteadyLoss reports whether the connection that sends the stream ssrc
// loses packets at random rather than from congestion (estimator's
// steadyLoss); false when unknown.
func (ls *Links) SteadyLoss(ssrc uint32) bool {
	ls.mu.Lock()
	l := ls.bySSRC[ssrc]
	ls.mu.Unlock()
	if l == nil {
		return false
	}
	bwe, _ := ls.parts(l)
	e, ok := bwe.(*estimator)
	return ok && e.steadyLoss()
}

// sendLog returns the record of what each transport-wide sequence number
// of PeerConnection pcID carried (its pacer's), nil until pion has built
// the connection's estimator.
func (ls *Links) sendLog(pcID string) *sendLog {
	l := ls.lookup(pcID)
	if l == nil {
		return nil
	}
	bwe, _ := ls.parts(l)
	if e, ok := bwe.(*estimator); ok {
		return &e.pacer.sent
	}
	return nil
}

// MaxLoss returns the highest fraction of packets lost on any link in its
// last full loss window (TWCC's view), for the audio encoder's FEC.
func (ls *Links) MaxLoss() float64 {
	ls.mu.Lock()
	var es []*estimator
	for _, l := range ls.byPC {
		if e, ok := l.bwe.(*estimator); ok {
			es = append(es, e)
		}
	}
	ls.mu.Unlock()
	worst := 0.0
	for _, e := range es {
		worst = max(worst, e.loss())
	}
	return worst
}

// LinkStats is what Links knows about one connection.
type LinkStats struct {
	TargetBitrate int     // video estimate, bits/s (0: unknown)
	Loss          float64 // fraction of our video lost, from receiver reports
	NACKs         uint64  // NACK packets received
	PLIs          uint64  // PLI and FIR packets received
	RTXBytes      uint64  // retransmitted payload bytes sent
	JitterMs      float64 // interarrival jitter of the video we receive
}

// stats returns the link's statistics; sent is our video SSRC on it and
// recv the remote's (0: none).
func (ls *Links) stats(pcID string, sent, recv uint32) (LinkStats, bool) {
	l := ls.lookup(pcID)
	if l == nil {
		return LinkStats{}, false
	}
	st := LinkStats{NACKs: l.nacks.Load(), PLIs: l.plis.Load(), RTXBytes: l.rtxBytes.Load()}
	if t, ok := ls.target(l, time.Now()); ok {
		st.TargetBitrate = t
	}
	bwe, getter := ls.parts(l)
	if bwe != nil && ls.log.Enabled(context.Background(), slog.LevelDebug) {
		args := []any{"pc", pcID, "stats", bwe.GetStats()}
		if e, ok := bwe.(*estimator); ok {
			args = append(args, "estimator", e.debugState())
		}
		args = append(args, "feedback_resends", l.feedbackResends.Load())
		ls.log.Debug("gcc", args...)
	}
	if getter != nil && sent != 0 {
		if s := getter.Get(sent); s != nil {
			st.Loss = s.RemoteInboundRTPStreamStats.FractionLost
		}
	}
	if e, ok := bwe.(*estimator); ok && st.Loss == 0 {
		st.Loss = e.loss() // TWCC's view when receiver reports say nothing
	}
	if getter != nil && recv != 0 {
		if s := getter.Get(recv); s != nil {
			st.JitterMs = s.InboundRTPStreamStats.Jitter * 1000
		}
	}
	return st, true
}

// parts returns the link's estimator and statistics getter (nil until
// pion has built them).
func (ls *Links) parts(l *link) (cc.BandwidthEstimator, stats.Getter) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return l.bwe, l.stats
}

// linkFactory builds the per-connection link interceptor.
type linkFactory struct{ ls *Links }

func (f linkFactory) NewInterceptor(id string) (interceptor.Interceptor, error) {
	return &linkInterceptor{ls: f.ls, id: id, l: f.ls.link(id)}, nil
}

// linkInterceptor counts a connection's feedback and retransmissions and
// maps its SSRCs to the link.
type linkInterceptor struct {
	interceptor.NoOp
	ls *Links
	id string
	l  *link
}

func (i *linkInterceptor) BindRTCPReader(reader interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, attr, err := reader.Read(b, a)
		if err != nil {
			return n, attr, err
		}
		if attr == nil {
			attr = interceptor.Attributes{}
		}
		pkts, perr := attr.GetRTCPPackets(b[:n])
		if perr != nil {
			return n, attr, nil
		}
		now := time.Now().UnixNano()
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.TransportLayerCC:
				i.l.twccAt.Store(now)
			case *rtcp.ReceiverEstimatedMaximumBitrate:
				i.l.remb.Store(int64(p.Bitrate))
				i.l.rembAt.Store(now)
			case *rtcp.TransportLayerNack:
				i.l.nacks.Add(1)
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				i.l.plis.Add(1)
			}
		}
		return n, attr, nil
	})
}

func (i *linkInterceptor) BindLocalStream(info *interceptor.StreamInfo, writer interceptor.RTPWriter) interceptor.RTPWriter {
	rtx := info.SSRCRetransmission
	audio := strings.HasPrefix(strings.ToLower(info.MimeType), "audio/")
	var twcc uint8
	for _, e := range info.RTPHeaderExtensions {
		if e.URI == sdp.TransportCCURI {
			twcc = uint8(e.ID)
		}
	}
	i.ls.mu.Lock()
	i.ls.bySSRC[info.SSRC] = i.l
	i.ls.streams[info.SSRC] = streamMeta{media: info.SSRC, audio: audio, twcc: twcc}
	if rtx != 0 {
		i.ls.streams[rtx] = streamMeta{media: info.SSRC, audio: audio, twcc: twcc}
	}
	i.ls.mu.Unlock()
	if rtx == 0 {
		return writer
	}
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if h.SSRC == rtx {
			i.l.rtxBytes.Add(uint64(len(payload)))
		}
		return writer.Write(h, payload, a)
	})
}

func (i *linkInterceptor) UnbindLocalStream(info *interceptor.StreamInfo) {
	i.ls.mu.Lock()
	defer i.ls.mu.Unlock()
	if i.ls.bySSRC[info.SSRC] == i.l {
		delete(i.ls.bySSRC, info.SSRC)
		delete(i.ls.streams, info.SSRC)
		delete(i.ls.streams, info.SSRCRetransmission)
	}
}

func (i *linkInterceptor) Close() error {
	i.ls.mu.Lock()
	defer i.ls.mu.Unlock()
	delete(i.ls.byPC, i.id)
	for ssrc, l := range i.ls.bySSRC {
		if l == i.l {
			delete(i.ls.bySSRC, ssrc)
			for rtx, m := range i.ls.streams {
				if m.media == ssrc {
					delete(i.ls.streams, rtx)
				}
			}
		}
	}
	return nil
}
