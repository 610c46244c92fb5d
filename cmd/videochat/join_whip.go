package main

// videochat join --whip URL / --whep URL: the native peer as a WHIP
// publisher (the same sources as in a room) or a WHEP player (with
// --record, --stats-json and --expect), against any endpoint, ours or a
// third party's. The endpoint is one remote "peer" in the stats.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/h264writer"
	"github.com/pion/webrtc/v4/pkg/media/ivfwriter"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"

	"github.com/videochat/videochat/capture"
	"github.com/videochat/videochat/peer"
	"github.com/videochat/videochat/whip"
)

// whipJoinFlags select the WHIP/WHEP mode of join.
type whipJoinFlags struct {
	whipURL, whepURL string
}

// runJoinWHIP is join with --whip or --whep.
func runJoinWHIP(ctx context.Context, f joinFlags, log *slog.Logger) error {
	if f.whipURL != "" && f.whepURL != "" {
		return withCode(exitUsage, errors.New("--whip and --whep exclude each other"))
	}
	endpoint := f.whipURL + f.whepURL
	if u, err := url.Parse(endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return withCode(exitUsage, fmt.Errorf("endpoint %q: want an http(s) URL", endpoint))
	}
	if f.expect > 0 && f.duration == 0 {
		f.duration = 10 * time.Second
	}
	// A publisher gets the congestion control of a room (peer.Links): the
	// video encoder follows the link's estimate and Opus its loss.
	var links *peer.Links
	if f.whipURL != "" {
		links = peer.NewLinks(peer.LinksConfig{Ceiling: f.media.VideoBitrate, Logger: log.With("component", "links")})
		f.media.Estimate = links.Target
		f.media.AudioLoss = links.MaxLoss
	}
	api, err := f.net.api(endpoint, capture.RegisterCodecs, links)
	if err != nil {
		return withCode(exitUsage, err)
	}
	pcCfg := webrtc.Configuration{ICEServers: f.net.iceServers()}
	if f.relayOnly {
		// Only through the TURN relay the endpoint announces (Link headers).
		pcCfg.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	pc, err := api.NewPeerConnection(pcCfg)
	if err != nil {
		return withCode(exitError, err)
	}
	defer pc.Close()
	ep := &endpointStats{pc: pc, name: endpointName(endpoint), links: links}
	var rec *whepRecorder
	if f.whipURL != "" {
		f.media.Logger = log.With("component", "capture")
		media, err := capture.Open(f.media)
		if err != nil {
			if errors.Is(err, capture.ErrNoCamera) || errors.Is(err, capture.ErrNoMicrophone) {
				return withCode(exitUsage, err)
			}
			return withCode(exitError, err)
		}
		defer media.Close()
		for _, t := range media.Tracks() {
			tr, err := pc.AddTransceiverFromTrack(links.ClockTrack(t), webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}) // sender reports of capture time
			if err != nil {
				return withCode(exitError, err)
			}
			if enc := tr.Sender().GetParameters().Encodings; t.Kind() == webrtc.RTPCodecTypeVideo && len(enc) > 0 {
				ep.video, ep.videoSSRC = t, uint32(enc[0].SSRC)
			}
			go forwardKeyFrameRequests(tr.Sender(), t) // ends when pc closes
		}
	} else {
		if f.record != "" {
			if err := os.MkdirAll(f.record, 0o755); err != nil {
				return withCode(exitUsage, fmt.Errorf("--record: %w", err))
			}
			rec = &whepRecorder{dir: f.record, base: sanitize(ep.name), log: log}
			defer rec.close()
		}
		for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
			if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
				return withCode(exitError, err)
			}
		}
		pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { ep.read(t, rec) })
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	sess, err := whip.Dial(dctx, nil, endpoint, f.token, pc)
	cancel()
	if err != nil {
		var se *whip.StatusError
		if errors.As(err, &se) {
			return withCode(exitRejected, fmt.Errorf("endpoint refused: %w", err))
		}
		return withCode(exitError, err)
	}
	log.Info("session created", "location", sess.Location)
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := sess.Close(cctx); err != nil {
			log.Warn("DELETE of the session failed", "err", err)
		}
	}()
	// ICE restarts through PATCH when the connection fails or stays
	// disconnected; a session the endpoint forgot ends the run.
	kctx, stopKeep := context.WithCancel(ctx)
	gone := make(chan error, 1)
	go func() { gone <- sess.KeepConnected(kctx, 5*time.Second) }()
	defer func() {
		stopKeep()
		<-gone
	}()
	return runEndpoint(ctx, f, ep, gone)
}

// runEndpoint reports once a second until ctx ends, the duration passes,
// the session is gone or the connection stayed down for --reconnect-for,
// then judges --expect.
func runEndpoint(ctx context.Context, f joinFlags, ep *endpointStats, gone chan error) error {
	out := newChatPrinter(os.Stdout)
	rep, err := newReporter(f.statsJSON, out, nil)
	if err != nil {
		return withCode(exitUsage, err)
	}
	defer rep.close()
	var deadline <-chan time.Time
	if f.duration > 0 {
		t := time.NewTimer(f.duration)
		defer t.Stop()
		deadline = t.C
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	pr := newProbe()
	var downSince time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-gone:
			gone <- nil // for the caller's wait
			if err != nil {
				return withCode(exitError, fmt.Errorf("the endpoint ended the session: %w", err))
			}
			return nil
		case now := <-tick.C:
			s := ep.snapshot()
			pr.update(s)
			rep.report(s)
			switch ep.pc.ConnectionState() {
			case webrtc.PeerConnectionStateConnected, webrtc.PeerConnectionStateNew, webrtc.PeerConnectionStateConnecting:
				downSince = time.Time{}
			default:
				if downSince.IsZero() {
					downSince = now
				}
				if now.Sub(downSince) > max(f.reconnectFor, 0) {
					return withCode(exitError, fmt.Errorf("the connection to the endpoint stayed down for %v", f.reconnectFor))
				}
			}
		case <-deadline:
			s := ep.snapshot()
			pr.update(s)
			rep.report(s)
			if f.expect > 0 {
				if err := pr.check(f.expect); err != nil {
					return withCode(exitExpect, fmt.Errorf("expectation not met: %w", err))
				}
				fmt.Fprintf(os.Stderr, "videochat: expectation met: %d peer(s) delivered video and audio\n", f.expect)
			}
			return nil
		}
	}
}

// forwardKeyFrameRequests passes the endpoint's PLI and FIR to a capture
// track, until the sender stops.
func forwardKeyFrameRequests(sender *webrtc.RTPSender, t webrtc.TrackLocal) {
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				switch k := t.(type) {
				case interface{ RequestKeyFrame() }:
					k.RequestKeyFrame()
				case interface{ RequestKeyFrame() error }:
					_ = k.RequestKeyFrame()
				}
			}
		}
	}
}

// endpointStats counts what arrives from a WHEP endpoint (or, publishing,
// the connection state and the video's bitrates) in the --stats-json schema.
type endpointStats struct {
	pc    *webrtc.PeerConnection
	name  string
	links *peer.Links // publishing: the link's estimate; nil playing
	// video is the published video track and videoSSRC its SSRC (none:
	// nil, 0).
	video     webrtc.TrackLocal
	videoSSRC uint32

	frames atomic.Uint64
	bytes  atomic.Uint64
	audio  atomic.Uint64

	mu         sync.Mutex
	lastFrames uint64
	lastTick   time.Time
	fps        float64
}

// read counts (and records) one remote track until it ends. A packet with
// the marker bit ends a video frame.
func (e *endpointStats) read(t *webrtc.TrackRemote, rec *whepRecorder) {
	for {
		pkt, _, err := t.ReadRTP()
		if err != nil {
			return
		}
		if t.Kind() == webrtc.RTPCodecTypeVideo {
			e.bytes.Add(uint64(len(pkt.Payload)))
			if pkt.Marker {
				e.frames.Add(1)
			}
		} else {
			e.audio.Add(1)
		}
		if rec != nil {
			rec.write(t.Codec(), pkt)
		}
	}
}

func (e *endpointStats) snapshot() peer.Snapshot {
	now := time.Now()
	frames := e.frames.Load()
	e.mu.Lock()
	if !e.lastTick.IsZero() {
		if dt := now.Sub(e.lastTick).Seconds(); dt > 0 {
			e.fps = float64(int(float64(frames-e.lastFrames)/dt*10)) / 10
		}
	}
	e.lastFrames, e.lastTick = frames, now
	fps := e.fps
	e.mu.Unlock()
	ps := peer.PeerStats{
		ID:    "endpoint",
		Name:  e.name,
		State: e.pc.ConnectionState().String(),
		Video: peer.VideoStats{FramesReceived: frames, BytesReceived: e.bytes.Load(), FPS: fps},
		Audio: peer.AudioStats{PacketsReceived: e.audio.Load()},
	}
	for _, s := range e.pc.GetStats() {
		if ts, ok := s.(webrtc.TransportStats); ok {
			ps.BytesSent = ts.BytesSent
		}
	}
	e.sendStats(&ps)
	return peer.Snapshot{Time: now.UTC().Truncate(time.Second), Peers: []peer.PeerStats{ps}}
}

// sendStats fills what a publisher sends: the video encoder's target and
// the link's estimate, as for a room peer (peer/stats.go).
func (e *endpointStats) sendStats(ps *peer.PeerStats) {
	ps.Layer = -1
	if e.videoSSRC == 0 {
		return
	}
	if t, ok := e.video.(interface {
		SendStats(ssrc uint32) (targetBps, layer int, ok bool)
	}); ok {
		if target, layer, ok := t.SendStats(e.videoSSRC); ok {
			ps.TargetBitrate, ps.Layer = target, layer
		}
	}
	if e.links != nil {
		if est, ok := e.links.Target(e.videoSSRC); ok {
			ps.EstimateBitrate = est
		}
	}
}

// endpointName is the endpoint's path without the /whip/ or /whep/ prefix.
func endpointName(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return endpoint
	}
	p := strings.Trim(u.Path, "/")
	for _, pre := range []string{"whip/", "whep/"} {
		p = strings.TrimPrefix(p, pre)
	}
	return p
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r < ' ' {
			return '-'
		}
		return r
	}, s)
}

// whepRecorder writes what a WHEP player receives: DIR/whep-<name>.ivf
// (VP8) or .h264 (Annex B), and DIR/whep-<name>.ogg (Opus). Files open at
// the first packet of their kind.
type whepRecorder struct {
	dir, base string
	log       *slog.Logger

	mu    sync.Mutex
	video interface {
		WriteRTP(*rtp.Packet) error
		Close() error
	}
	audio  *oggwriter.OggWriter
	failed bool
}

func (r *whepRecorder) write(c webrtc.RTPCodecParameters, pkt *rtp.Packet) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failed {
		return
	}
	var err error
	path := filepath.Join(r.dir, "whep-"+r.base)
	switch mime := strings.ToLower(c.MimeType); {
	case mime == strings.ToLower(webrtc.MimeTypeOpus):
		if r.audio == nil {
			r.audio, err = oggwriter.New(path+".ogg", c.ClockRate, max(c.Channels, 1))
		}
		if err == nil {
			err = r.audio.WriteRTP(pkt)
		}
	case mime == strings.ToLower(webrtc.MimeTypeVP8):
		if r.video == nil {
			r.video, err = ivfwriter.New(path+".ivf", ivfwriter.WithCodec(webrtc.MimeTypeVP8))
		}
		if err == nil {
			err = r.video.WriteRTP(pkt)
		}
	case mime == strings.ToLower(webrtc.MimeTypeH264):
		if r.video == nil {
			r.video, err = h264writer.New(path + ".h264")
		}
		if err == nil {
			err = r.video.WriteRTP(pkt)
		}
	}
	if err != nil {
		r.log.Warn("recording failed", "err", err)
		r.failed = true
	}
}

func (r *whepRecorder) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.video != nil {
		_ = r.video.Close()
	}
	if r.audio != nil {
		_ = r.audio.Close()
	}
}
