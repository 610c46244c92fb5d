package looptest

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// Synth feeds VP8-shaped frames (30 fps) and Opus-shaped packets (50/s) to
// two sample tracks until Close or the end of the test. The payloads are
// not decodable; they exercise RTP, counters, congestion control and
// key-frame requests. It owns two goroutines; Close stops them and waits.
type Synth struct {
	Video, Audio *webrtc.TrackLocalStaticSample
	stop         chan struct{}
	wg           sync.WaitGroup
}

// NewSynth starts a Synth whose tracks have stream id id and whose video
// frames are frameBytes long.
func NewSynth(tb testing.TB, id string, frameBytes int) *Synth {
	tb.Helper()
	v, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", id)
	if err != nil {
		tb.Fatal(err)
	}
	a, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", id)
	if err != nil {
		tb.Fatal(err)
	}
	s := &Synth{Video: v, Audio: a, stop: make(chan struct{})}
	s.wg.Add(2)
	go s.loop(v, 33*time.Millisecond, frameBytes)
	go s.loop(a, 20*time.Millisecond, 80)
	tb.Cleanup(s.Close)
	return s
}

// Tracks returns the video and the audio track.
func (s *Synth) Tracks() []webrtc.TrackLocal { return []webrtc.TrackLocal{s.Video, s.Audio} }

func (s *Synth) loop(tr *webrtc.TrackLocalStaticSample, every time.Duration, size int) {
	defer s.wg.Done()
	tick := time.NewTicker(every)
	defer tick.Stop()
	buf := make([]byte, size)
	for i := 0; ; i++ {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		buf[0] = byte(i) | 1 // VP8 tag bit 0 = 1: inter frame
		_ = tr.WriteSample(media.Sample{Data: buf, Duration: every})
	}
}

// Close stops feeding the tracks; calls after the first do nothing.
func (s *Synth) Close() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.wg.Wait()
}
