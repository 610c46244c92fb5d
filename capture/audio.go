package capture

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/codec/opus"
	"github.com/pion/mediadevices/pkg/io/audio"
	"github.com/pion/mediadevices/pkg/prop"
)

// Live audio is encoded as 20 ms Opus frames at 48 kHz.
const (
	audioRate       = 48000
	audioFrame      = 20 * time.Millisecond
	audioFrameTicks = audioRate * int(audioFrame) / int(time.Second)
)

// audioSource produces raw audio at 48 kHz for the live audio pipeline.
type audioSource interface {
	audio.Reader
	// Interval is the pacing interval of the pipeline's ticker, or 0 when
	// Read blocks until audio is available (devices).
	Interval() time.Duration
	Channels() int
	Close() error
}

type audioOpener func() (audioSource, error)

// liveAudio is the pipeline of raw audio sources (tone, microphone): one
// Opus encoder shared by every binding.
type liveAudio struct {
	open    audioOpener
	bitrate int
	log     *slog.Logger
}

func (a *liveAudio) run(stop <-chan struct{}, t *track) error {
	src, err := a.open()
	if err != nil {
		return err
	}
	defer src.Close()
	src = t.level.wrap(src) // RFC 6464 level of each chunk (level.go)
	enc, err := newOpusEncoder(src, a.bitrate)
	if err != nil {
		return err
	}
	defer enc.Close()
	t.counters.encoders.Add(1)

	var tick <-chan time.Time
	if iv := src.Interval(); iv > 0 {
		ticker := time.NewTicker(iv)
		defer ticker.Stop()
		tick = ticker.C
	}
	out := newRTPOut(keyOpus)
	var subs []binding
	version := noVersion
	var ts uint32
	for {
		if err := wait(stop, tick); err != nil {
			return nil
		}
		data, release, err := enc.Read()
		if err != nil {
			return fmt.Errorf("opus: %w", err)
		}
		if all, ver, changed := t.subscribers(version); changed {
			subs, version = all[keyOpus], ver
		}
		t.counters.frames.Add(1)
		t.counters.bytes.Add(int64(len(data)))
		out.send(subs, data, ts)
		release()
		ts += uint32(audioFrameTicks)
	}
}

func newOpusEncoder(src audioSource, bitrate int) (codec.ReadCloser, error) {
	params, err := opus.NewParams()
	if err != nil {
		return nil, err
	}
	params.BitRate = bitrate
	params.Latency = opus.Latency20ms
	enc, err := params.BuildAudioEncoder(src, prop.Media{Audio: prop.Audio{SampleRate: audioRate, ChannelCount: src.Channels()}})
	if err != nil {
		return nil, fmt.Errorf("opus: encoder init: %w", err)
	}
	return enc, nil
}
