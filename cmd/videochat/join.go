package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/videochat/videochat/capture"
	"github.com/videochat/videochat/peer"
	"github.com/videochat/videochat/playback"
	"github.com/videochat/videochat/signal/proto"
	"github.com/videochat/videochat/signal/token"
	"github.com/videochat/videochat/view"
)

// joinFlags are the flags of `videochat join`.
type joinFlags struct {
	server, room, name string
	media              capture.Config
	net                netFlags
	record             string
	statsJSON          string
	token              string
	relayOnly          bool
	reconnectFor       time.Duration
	duration           time.Duration
	expect             int
	files              fileFlags
	log                logFlags
	stdinMedia         bool // a media source reads stdin: no chat from it
	play               playFlags
	view               viewFlags
	whipJoinFlags      // --whip, --whep: see join_whip.go
}

func newJoinCmd() *cobra.Command {
	f := joinFlags{}
	cmd := &cobra.Command{
		Use:   "join --room ROOM --name NAME",
		Short: "Join a room as a native WebRTC peer (camera and microphone from Go)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runJoin(cmd.Context(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.server, "server", envOr("VIDEOCHAT_SERVER", "http://127.0.0.1:8080"), "server base URL (env VIDEOCHAT_SERVER)")
	fl.StringVar(&f.room, "room", "", "room to join (required)")
	fl.StringVar(&f.name, "name", "", "display name (required)")
	fl.StringVar(&f.media.Video, "video", "camera", "video source: camera, screen, screen:N, test, none, a .y4m/.ivf file, or a stream (H.264, IVF, Y4M) from another program: - (stdin), tcp://HOST:PORT, unix:PATH")
	fl.StringVar(&f.media.Audio, "audio", "mic", "audio source: mic, test, none, an .ogg (Opus) file, or an Ogg/Opus stream: - (stdin), tcp://HOST:PORT, unix:PATH")
	fl.StringVar(&f.media.Camera, "camera", "", "camera device id (see `videochat devices`)")
	fl.StringVar(&f.media.Mic, "mic", "", "microphone device id (see `videochat devices`)")
	fl.IntVar(&f.media.Width, "width", 640, "video width")
	fl.IntVar(&f.media.Height, "height", 480, "video height")
	fl.IntVar(&f.media.FPS, "fps", 0, "video frame rate (default 30, 15 for screens)")
	fl.IntVar(&f.media.VideoBitrate, "video-bitrate", 1_000_000, "video bitrate target, bits/s")
	fl.StringVar(&f.token, "token", os.Getenv("VIDEOCHAT_TOKEN"), "room token, for servers started with --token-secret (env VIDEOCHAT_TOKEN)")
	fl.BoolVar(&f.relayOnly, "relay-only", false, "connect only through TURN relays (iceTransportPolicy relay): for strict firewalls and for testing TURN")
	fl.DurationVar(&f.reconnectFor, "reconnect-for", peer.DefaultReconnectFor, "keep trying to reach the server this long after signalling drops (calls keep running meanwhile; negative: give up at once)")
	fl.StringVar(&f.record, "record", "", "write one WebM per remote peer into this directory")
	fl.StringVar(&f.statsJSON, "stats-json", "", "append one JSON stats object per second to this file (- for stdout)")
	fl.DurationVar(&f.duration, "duration", 0, "leave after this long (0: stay until interrupted; 10s with --expect)")
	fl.IntVar(&f.expect, "expect", 0, "probe mode: at the end of --duration (10s if unset) exit 0 if N remote peers each delivered ≥30 video frames and audio, else exit 3")
	f.files.register(fl)
	f.net.register(fl)
	f.play.register(fl)
	f.view.register(fl)
	fl.StringVar(&f.log.Level, "log-level", "warn", "log level: debug, info, warn, error")
	fl.StringVar(&f.log.Format, "log-format", "text", "log format: text or json")
	fl.StringVar(&f.whipURL, "whip", "", "publish to this WHIP endpoint (e.g. http://host:8080/whip/ROOM?name=N) instead of joining a room; --room and --name are then not needed")
	fl.StringVar(&f.whepURL, "whep", "", "play from this WHEP endpoint (e.g. http://host:8080/whep/ROOM/NAME) instead of joining a room")
	return cmd
}

func runJoin(ctx context.Context, f joinFlags) error {
	log, err := f.log.Logger(os.Stderr)
	if err != nil {
		return err
	}
	keepSysmonAwake(log) // re-executes once (sysmon.go)
	if f.whipURL != "" || f.whepURL != "" {
		return runJoinWHIP(ctx, f, log)
	}
	if f.room == "" || f.name == "" {
		return withCode(exitUsage, errors.New("--room and --name are required (or --whip/--whep URL)"))
	}
	if !proto.ValidRoom(f.room) {
		return withCode(exitUsage, fmt.Errorf("--room %q: use 1-64 letters, digits, '-', '_' or '.'", f.room))
	}
	if _, perr := proto.CleanName(f.name); perr != nil {
		return withCode(exitUsage, fmt.Errorf("--name: %s", perr.Message))
	}
	if f.expect > 0 && f.duration == 0 {
		f.duration = 10 * time.Second
	}
	f.stdinMedia = usesStdin(f.media)
	if _, err := f.view.check(f.statsJSON); err != nil {
		return withCode(exitUsage, err)
	}
	if viewOnly(f.token) && (f.media.Video != capture.SourceNone || f.media.Audio != capture.SourceNone) {
		log.Warn("the room token does not allow publishing: joining receive-only, camera and microphone stay closed")
		f.media.Video, f.media.Audio = capture.SourceNone, capture.SourceNone
	}
	f.media.Logger = log.With("component", "capture")
	links := peer.NewLinks(peer.LinksConfig{Ceiling: f.media.VideoBitrate, Logger: log.With("component", "links")})
	f.media.Estimate = links.Target   // the video encoders follow each connection's estimate
	f.media.AudioLoss = links.MaxLoss // and Opus switches in-band FEC on when a link loses
	f.media.Name = f.name
	if err := stdinSource(&f.media); err != nil {
		return withCode(exitUsage, err)
	}
	media, err := openMedia(ctx, f)
	if err != nil {
		if ctx.Err() != nil { // interrupted while waiting for a stream
			return nil
		}
		return openMediaError(err)
	}
	defer media.Close()
	remote, err := openRemoteMedia(f.play, log)
	if err != nil {
		return err
	}
	defer remote.close()
	vw, err := newViewer(f.view, f.statsJSON, "videochat: "+f.room, log, remote.audio)
	if err != nil {
		return withCode(exitUsage, err)
	}
	remote.Video = vw.videoSink

	api, err := f.net.api(f.server, capture.RegisterCodecs, links, peer.AudioLevelInterceptor(media.Tracks()))
	if err != nil {
		return withCode(exitUsage, err)
	}
	out := newChatPrinter(os.Stdout)
	p, err := peer.New(peer.Config{
		Server:       f.server,
		Room:         f.room,
		Name:         f.name,
		API:          api,
		Links:        links,
		Tracks:       media.Tracks(),
		ICEServers:   f.net.iceServers(),
		RecordDir:    f.record,
		Token:        f.token,
		RelayOnly:    f.relayOnly,
		ReconnectFor: f.reconnectFor,
		Logger:       log.With("component", "peer"),
		OnChat:       out.chat,
		OnEvent:      vw.events(stateLines(out, logEvent(log))),
		OnTrack:      remote.onTrack, // audio to the player, video to vw.videoSink
		Files:        f.files.config(out),
	})
	if err != nil {
		return withCode(exitUsage, err)
	}
	ctx, stopView := vw.start(ctx, out, p.Stats)
	defer stopView()
	return runPeer(ctx, p, f, out, media, remote.audio, vw.stats)
}

// runPeer runs p until ctx ends, the duration passes or a stream source
// ends, and then judges the expectation if one was set.
func runPeer(ctx context.Context, p *peer.Peer, f joinFlags, out *chatPrinter, media *capture.Media, audio *playback.Player, viewStats func() *view.Stats) error {
	rep, err := newReporter(f.statsJSON, out, viewStats)
	if err != nil {
		return withCode(exitUsage, err)
	}
	rep.audio = audio
	defer rep.close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- p.Run(ctx) }()
	if !f.stdinMedia {
		go readCommands(ctx, os.Stdin, p, out, cancel)
	}

	var deadline <-chan time.Time
	if f.duration > 0 {
		t := time.NewTimer(f.duration)
		defer t.Stop()
		deadline = t.C
	}
	report := time.NewTicker(time.Second)
	defer report.Stop()
	var poll <-chan time.Time // probe mode looks more often than it reports, so peers that leave early still count
	pr := newProbe()
	inputDone := media.Done()
	if f.expect > 0 {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		poll = t.C
	}
	for {
		select {
		case err := <-runErr:
			return runError(err)
		case <-report.C:
			snap := p.Stats()
			pr.update(snap)
			rep.report(snap)
		case <-poll:
			pr.update(p.Stats())
		case <-deadline:
			snap := p.Stats()
			pr.update(snap)
			rep.report(snap)
			if err := leave(cancel, runErr); err != nil {
				return err
			}
			if f.expect > 0 {
				if cerr := pr.check(f.expect); cerr != nil {
					return withCode(exitExpect, fmt.Errorf("expectation not met: %w", cerr))
				}
				fmt.Fprintf(os.Stderr, "videochat: expectation met: %d peer(s) delivered video and audio\n", f.expect)
			}
			return nil
		case <-ctx.Done():
			return leave(cancel, runErr)
		case <-inputDone:
			if f.expect > 0 && media.Err() == nil {
				inputDone = nil // a probe is judged at the end of --duration
				continue
			}
			return inputEnded(media, func() error { return leave(cancel, runErr) })
		}
	}
}

// logEvent logs the peer's events: call milestones at info, trouble at warn.
func logEvent(log *slog.Logger) func(peer.Event) {
	return func(e peer.Event) {
		attrs := []any{"event", string(e.Kind), "peer", e.Peer.Name, "id", e.Peer.ID}
		if e.State != "" {
			attrs = append(attrs, "state", e.State)
		}
		switch e.Kind {
		case peer.EventReconnecting, peer.EventError:
			if e.Err != nil {
				attrs = append(attrs, "err", e.Err)
			}
			log.Warn("peer event", attrs...)
		case peer.EventFirstFrame:
			log.Info("first remote video frame", attrs...)
		default:
			log.Info("peer event", attrs...)
		}
	}
}

// leave stops the peer and waits for it to finish leaving the room.
func leave(cancel context.CancelFunc, runErr <-chan error) error {
	cancel()
	return runError(<-runErr)
}

// runError maps the peer's exit to an exit code.
func runError(err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return nil
	}
	var perr *proto.Error
	if errors.As(err, &perr) {
		return withCode(exitRejected, fmt.Errorf("server refused: %s (%s)", perr.Message, perr.Code))
	}
	return withCode(exitError, err)
}

// viewOnly reports whether the room token says its holder may not publish.
// The server decides (and refuses media from such a peer); this only
// spares opening a camera and microphone that could not be used.
func viewOnly(tok string) bool {
	if tok == "" {
		return false
	}
	c, err := token.Peek(tok)
	return err == nil && !c.MayPublish()
}
