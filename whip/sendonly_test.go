package whip_test

import (
	"context"
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/videochat/videochat/signal"
	"github.com/videochat/videochat/whip"
)

// TestWHIPParticipantReceivesNothing: a WHIP publisher's participant only
// sends. A room member that sends video and audio to everyone sends the
// participant none (the server would receive it and throw it away): its
// connection to the participant carries feedback and reports only.
func TestWHIPParticipantReceivesNothing(t *testing.T) {
	e := startEnv(t, signal.Config{}, whip.Config{})
	bob := startRoomPeer(t, e, "demo", "bob", newSynth(t, "bob").Tracks(), nil)
	pc, err := e.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for _, tr := range newSynth(t, "pub").Tracks() {
		if _, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	sess, err := whip.Dial(ctx, nil, e.url+"/whip/demo?name=pub", "", pc)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	defer sess.Close(context.Background())
	var start struct {
		frames, sent uint64
	}
	waitFor(t, "bob to receive pub's video", func() bool {
		ps, ok := bob.statsOf("pub")
		start.frames, start.sent = ps.Video.FramesReceived, ps.BytesSent
		return ok && ps.Video.FramesReceived >= 30
	})
	// Judge the next 60 frames (2 s at 30 fps): bob's synthetic video
	// alone would be 1200 B × 60 on the wire.
	var sent uint64
	waitFor(t, "60 more frames from pub", func() bool {
		ps, _ := bob.statsOf("pub")
		sent = ps.BytesSent - start.sent
		return ps.Video.FramesReceived >= start.frames+60
	})
	t.Logf("bob sent the WHIP participant %d bytes over 60 of its frames", sent)
	if sent > 1200*60/4 {
		t.Errorf("bob sent the WHIP participant %d bytes over 2 s: its media goes to a participant that only publishes", sent)
	}
}
