package capture

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"

	"github.com/pion/webrtc/v4"
)

// Media holds the local tracks of a native peer. Its tracks may be added to
// any number of PeerConnections at once.
type Media struct {
	video, audio *track
	closeOnce    sync.Once
}

// Open checks the configured sources (a missing camera or microphone fails
// here, with an error wrapping ErrNoCamera or ErrNoMicrophone) and prepares
// the tracks. Devices and encoders start only when a track is bound.
func Open(cfg Config) (*Media, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	streamID := "videochat-" + randomHex(4)
	m := &Media{}
	var err error
	if m.video, err = openVideo(cfg, streamID); err != nil {
		return nil, err
	}
	if m.audio, err = openAudio(cfg, streamID); err != nil {
		return nil, err
	}
	return m, nil
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
	})
	return nil
}

func openVideo(cfg Config, streamID string) (*track, error) {
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
		return live(func() (videoSource, error) {
			return openCamera(d, cfg.Width, cfg.Height, cfg.FPS)
		}, keyVP8, keyH264), nil
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
	return nil, fmt.Errorf("--video %q: want camera, test, none or a .y4m or .ivf file", cfg.Video)
}

func openAudio(cfg Config, streamID string) (*track, error) {
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
		d, p, err := findMicrophone(cfg)
		if err != nil {
			return nil, err
		}
		return live(func() (audioSource, error) { return openMicrophone(d, p) }), nil
	}
	if fileKind(cfg.Audio) == "ogg" {
		if err := probe(openOgg(cfg.Audio)); err != nil {
			return nil, err
		}
		p := &passthrough{open: func() (encodedSource, error) { return openOgg(cfg.Audio) }, key: keyOpus, clock: audioRate}
		return newTrack(webrtc.RTPCodecTypeAudio, "audio", streamID, []codecKey{keyOpus}, p, log), nil
	}
	return nil, fmt.Errorf("--audio %q: want mic, test, none or an .ogg file", cfg.Audio)
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
