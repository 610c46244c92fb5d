package capture

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"

	"github.com/pion/webrtc/v4"
)

// Media holds the local tracks of a native peer. Its tracks may be added to
// any number of PeerConnections at once.
type Media struct {
	video, audio *track
	closeOnce    sync.Once

	// done is closed when the first stream source ends (nil without
	// stream sources); endErr is why (nil for the end of the stream).
	done    chan struct{}
	endOnce sync.Once
	endErr  error

	// released is closed when the microphone's trial stream (Open) has
	// been let go of; nil without one. Close waits for it.
	released <-chan struct{}
}

// Open checks the configured sources (a missing camera or microphone fails
// here, with an error wrapping ErrNoCamera or ErrNoMicrophone) and prepares
// the tracks. Devices and encoders start only when a track is bound;
// streams from other programs are read from Open on.
func Open(cfg Config) (*Media, error) {
	return OpenContext(context.Background(), cfg)
}

// OpenContext is Open; ctx bounds the wait for stream sources to connect
// and show their format.
func OpenContext(ctx context.Context, cfg Config) (*Media, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	streamID := "videochat-" + randomHex(4)
	m := &Media{}
	if IsStream(cfg.Video) || IsStream(cfg.Audio) {
		m.done = make(chan struct{})
	}
	var err error
	if m.video, err = openVideo(ctx, cfg, streamID, m.ended); err != nil {
		return nil, err
	}
	if m.video != nil && m.video.persistent {
		m.video.start() // Close now closes the stream
	}
	if m.audio, err = openAudio(ctx, cfg, streamID, m.ended, &m.released); err != nil {
		m.Close()
		return nil, err
	}
	if m.audio != nil && m.audio.persistent {
		m.audio.start()
	}
	return m, nil
}

// Done is closed when a stream source (stdin, socket) has ended, by its end
// or an error (see Err); nil when no source is a stream. The other tracks
// keep running until Close.
func (m *Media) Done() <-chan struct{} { return m.done }

// Err says why Done was closed: nil when the stream ended, else what was
// wrong with it.
func (m *Media) Err() error {
	select {
	case <-m.done:
		return m.endErr
	default:
		return nil
	}
}

func (m *Media) ended(err error) {
	m.endOnce.Do(func() {
		m.endErr = err
		close(m.done)
	})
}

// Tracks returns the video track (if any) then the audio track (if any).
// The video track implements [KeyFrameRequester].
func (m *Media) Tracks() []webrtc.TrackLocal {
	var out []webrtc.TrackLocal
	for _, t := range []*track{m.video, m.audio} {
		if t != nil {
			out = append(out, t)
		}
	}
	return out
}

// Close stops every pipeline, closes devices and files and waits for the
// goroutines to return. Binding a track afterwards fails with ErrClosed.
func (m *Media) Close() error {
	m.closeOnce.Do(func() {
		for _, t := range []*track{m.video, m.audio} {
			if t != nil {
				t.close()
			}
		}
		waitReleased(m.released)
	})
	return nil
}

func openVideo(ctx context.Context, cfg Config, streamID string, ended func(error)) (*track, error) {
	log := cfg.Logger.With("media", "video")
	live := func(open videoOpener, codecs ...codecKey) *track {
		p := &liveVideo{open: open, encoders: defaultEncoders(), fps: cfg.FPS,
			ceiling: cfg.VideoBitrate, floor: cfg.MinVideoBitrate, estimate: cfg.Estimate, log: log}
		return newTrack(webrtc.RTPCodecTypeVideo, "video", streamID, codecs, p, log)
	}
	switch cfg.Video {
	case SourceNone:
		return nil, nil
	case SourceTest:
		return live(func() (videoSource, error) {
			return newPatternSource(cfg.Width, cfg.Height, cfg.FPS), nil
		}, keyVP8, keyH264), nil
	case SourceCamera:
		d, err := findCamera(cfg)
		if err != nil {
			return nil, err
		}
		open := func() (*deviceVideo, error) {
			return openDeviceVideo(d, bestCameraProp(cfg.Width, cfg.Height, cfg.FPS), cfg.Width, cfg.Height)
		}
		if err := trialCamera(cfg, open); err != nil {
			return nil, err
		}
		return live(resilient(cfg, log, func() (videoSource, error) {
			v, err := open()
			if err != nil {
				return nil, err
			}
			v.logOpen(log, "camera")
			return v, nil
		}), keyVP8, keyH264), nil
	}
	if n, ok := screenNumber(cfg.Video); ok {
		d, err := findScreen(n)
		if err != nil {
			return nil, err
		}
		return live(resilient(cfg, log, func() (videoSource, error) {
			return openDeviceVideo(d, screenProp(cfg.FPS), cfg.Width, cfg.Height)
		}), keyVP8, keyH264), nil
	}
	if IsStream(cfg.Video) {
		newLive := func(open videoOpener) pipeline { return live(open).pipe }
		return openStreamTrack(ctx, cfg, cfg.Video, false, streamID, ended, log, newLive)
	}
	switch fileKind(cfg.Video) {
	case "y4m":
		if err := probe(openY4M(cfg.Video)); err != nil {
			return nil, err
		}
		return live(func() (videoSource, error) { return openY4M(cfg.Video) }, keyVP8, keyH264), nil
	case "ivf":
		if err := probe(openIVF(cfg.Video)); err != nil {
			return nil, err
		}
		p := &passthrough{open: func() (encodedSource, error) { return openIVF(cfg.Video) }, key: keyVP8, clock: 90000}
		return newTrack(webrtc.RTPCodecTypeVideo, "video", streamID, []codecKey{keyVP8}, p, log), nil
	}
	return nil, fmt.Errorf("--video %q: want camera, screen, screen:N, test, none, a .y4m or .ivf file, - (stdin), tcp://HOST:PORT or unix:PATH", cfg.Video)
}

// released is set to a channel closed when a trial device opened by Open
// is let go of (microphones).
func openAudio(ctx context.Context, cfg Config, streamID string, ended func(error), released *<-chan struct{}) (*track, error) {
	log := cfg.Logger.With("media", "audio")
	live := func(open audioOpener) *track {
		p := &liveAudio{open: open, bitrate: DefaultAudioBitrate, loss: cfg.AudioLoss, log: log}
		return newTrack(webrtc.RTPCodecTypeAudio, "audio", streamID, []codecKey{keyOpus}, p, log)
	}
	switch cfg.Audio {
	case SourceNone:
		return nil, nil
	case SourceTest:
		return live(func() (audioSource, error) { return newToneSource(), nil }), nil
	case SourceMic:
		mic, err := findMicrophone(cfg)
		if err != nil {
			return nil, err
		}
		log.Info("microphone", "id", mic.id, "label", mic.label, "rate", mic.mode.rate, "channels", mic.mode.channels, "format", mic.mode.formatName())
		want := cfg.Mic
		*released = mic.released
		return live(func() (audioSource, error) { return openMicrophone(want, log, mic.released) }), nil
	}
	if IsStream(cfg.Audio) {
		return openStreamTrack(ctx, cfg, cfg.Audio, true, streamID, ended, log, nil)
	}
	if fileKind(cfg.Audio) == "ogg" {
		if err := probe(openOgg(cfg.Audio)); err != nil {
			return nil, err
		}
		p := &passthrough{open: func() (encodedSource, error) { return openOgg(cfg.Audio) }, key: keyOpus, clock: audioRate}
		return newTrack(webrtc.RTPCodecTypeAudio, "audio", streamID, []codecKey{keyOpus}, p, log), nil
	}
	return nil, fmt.Errorf("--audio %q: want mic, test, none, an .ogg file, - (stdin), tcp://HOST:PORT or unix:PATH", cfg.Audio)
}

// probe closes a source opened only to check it.
func probe[S interface{ Close() error }](s S, err error) error {
	if err != nil {
		return err
	}
	return s.Close()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// resilient wraps a device opener so that a device lost mid-call sends
// black frames with cfg.Name and is reopened (see lostVideo).
func resilient(cfg Config, log *slog.Logger, open videoOpener) videoOpener {
	return func() (videoSource, error) {
		return newLostVideo(open, cfg.Name, cfg.Width, cfg.Height, cfg.FPS, log)
	}
}
