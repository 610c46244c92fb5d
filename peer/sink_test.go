package peer_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/videochat/videochat/peer"
)

// countingSink records what a TrackSink is given.
type countingSink struct {
	mu      sync.Mutex
	packets int
	reports int
	closed  int
	lastSR  time.Time
}

func (s *countingSink) WriteRTP(*rtp.Packet) { s.mu.Lock(); s.packets++; s.mu.Unlock() }
func (s *countingSink) SenderReport(ntp time.Time, _ uint32) {
	s.mu.Lock()
	s.reports++
	s.lastSR = ntp
	s.mu.Unlock()
}
func (s *countingSink) Close() { s.mu.Lock(); s.closed++; s.mu.Unlock() }

func (s *countingSink) counts() (packets, reports, closed int, lastSR time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.packets, s.reports, s.closed, s.lastSR
}

// TestOnTrackSinks: every remote track is offered to OnTrack, its sink gets
// the packets and the sender reports (with the sender's wall clock), and is
// closed once when the remote leaves.
func TestOnTrackSinks(t *testing.T) {
	server := startServer(t)
	var mu sync.Mutex
	sinks := map[webrtc.RTPCodecType]*countingSink{}
	var offered []peer.RemoteTrack
	alice := startPeer(t, server, "sinks", "alice", peerOpts{onTrack: func(rt peer.RemoteTrack) peer.TrackSink {
		mu.Lock()
		defer mu.Unlock()
		offered = append(offered, rt)
		s := &countingSink{}
		sinks[rt.Kind] = s
		return s
	}})
	waitWelcome(t, alice)
	bob := startPeer(t, server, "sinks", "bob", peerOpts{tracks: newSynthSource(t, "bob").Tracks()})
	waitWelcome(t, bob)

	waitFor(t, "packets and sender reports on both sinks", func() error {
		mu.Lock()
		defer mu.Unlock()
		for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
			s := sinks[kind]
			if s == nil {
				return fmt.Errorf("no %s sink", kind)
			}
			if p, r, _, _ := s.counts(); p < 20 || r < 1 {
				return fmt.Errorf("%s: %d packets, %d sender reports", kind, p, r)
			}
		}
		return nil
	})
	mu.Lock()
	for _, rt := range offered {
		if rt.Peer.Name != "bob" || rt.SSRC == 0 || rt.Codec.MimeType == "" {
			t.Errorf("offered track %+v: want bob's, with an SSRC and a codec", rt)
		}
	}
	_, _, _, sr := sinks[webrtc.RTPCodecTypeVideo].counts()
	mu.Unlock()
	if d := time.Since(sr); d < -5*time.Second || d > 30*time.Second {
		t.Errorf("sender report wall clock %v is %v from now", sr, d)
	}

	bob.stop(t)
	waitFor(t, "sinks closed once", func() error {
		mu.Lock()
		defer mu.Unlock()
		for kind, s := range sinks {
			if _, _, c, _ := s.counts(); c != 1 {
				return fmt.Errorf("%s sink closed %d times", kind, c)
			}
		}
		return nil
	})
}
