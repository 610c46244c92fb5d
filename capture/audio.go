package capture

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/pion/mediadevices/pkg/io/audio"
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
	// Interval is the interval at which the pipeline paces the source
	// (pace.go), or 0 when Read blocks until audio is available (devices).
	Interval() time.Duration
	Channels() int
	Close() error
}

type audioOpener func() (audioSource, error)

// audioSkipper is a self-paced source that can skip frames the pipeline
// was too late to produce, so its signal stays in step with the clock.
type audioSkipper interface {
	Skip(frames int)
}

// maxAudioLate is how far behind its clock a self-paced audio source may
// fall and still catch up in a burst; past it, frames are skipped with a
// timestamp jump (a receiver's jitter buffer absorbs a short burst; a
// long one would only add latency).
const maxAudioLate = 200 * time.Millisecond

// liveAudio is the pipeline of raw audio sources (tone, microphone): one
// Opus encoder (opus.go) shared by every binding.
type liveAudio struct {
	open    audioOpener
	bitrate int
	// loss returns the highest fraction of packets the receivers lose
	// (nil: none); read once a second, it switches in-band FEC.
	loss func() float64
	log  *slog.Logger
}

// lossEvery is how many frames pass between two reads of the loss.
const lossEvery = int(time.Second / audioFrame)

func (a *liveAudio) run(stop <-chan struct{}, t *track) error {
	src, err := a.open()
	if err != nil {
		return err
	}
	defer src.Close()
	skipper, _ := src.(audioSkipper)
	src = t.level.wrap(src) // RFC 6464 level of each chunk (level.go)
	enc, err := newOpus(src.Channels(), a.bitrate)
	if err != nil {
		return err
	}
	defer enc.Close()
	chunks := audio.NewBuffer(audioFrameTicks)(src) // 20 ms at a time
	t.counters.encoders.Add(1)

	var pace *framePacer
	if iv := src.Interval(); iv > 0 {
		pace = newFramePacer(iv, maxAudioLate)
		defer pace.stop()
	}
	out := newRTPOut(keyOpus)
	var subs []binding
	version := noVersion
	var ts uint32
	for n := 0; ; n++ {
		skipped, err := pace.waitOrStop(stop)
		if err != nil {
			return nil
		}
		if skipped > 0 {
			ts += uint32(skipped * audioFrameTicks) // a gap, not a slow clock
			if skipper != nil {
				skipper.Skip(skipped)
			}
		}
		if a.loss != nil && n%lossEvery == 0 {
			if err := enc.setLoss(a.loss()); err != nil {
				return err
			}
		}
		chunk, release, err := chunks.Read()
		if err != nil {
			return fmt.Errorf("audio source: %w", err)
		}
		captured := audioCaptured(pace, time.Now())
		data, err := enc.Encode(chunk)
		release()
		if err != nil {
			return err
		}
		if all, ver, changed := t.subscribers(version); changed {
			subs, version = all[keyOpus], ver
		}
		t.counters.frames.Add(1)
		if len(data) > 2 { // 2 bytes or less: DTX, nothing to send
			t.counters.bytes.Add(int64(len(data)))
			out.send(subs, data, ts, captured)
		}
		ts += uint32(audioFrameTicks)
	}
}
