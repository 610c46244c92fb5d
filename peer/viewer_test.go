package peer_test

import (
	"testing"
	"time"

	"github.com/videochat/videochat/signal"
	"github.com/videochat/videochat/signal/token"
)

// TestViewerTokenReceivesOnly: a native peer whose room token has
// can_publish false sends no media even though it has tracks (the server
// would refuse its offers and answers otherwise), and still receives the
// publisher's audio and video, whichever side offers.
func TestViewerTokenReceivesOnly(t *testing.T) {
	secret := []byte("viewer test secret")
	v, err := token.NewVerifier(secret)
	if err != nil {
		t.Fatal(err)
	}
	server := startServerWith(t, signal.Config{Tokens: v})
	issue := func(name string, canPublish *bool) string {
		tok, err := token.Issue(secret, token.Claims{Room: "stage", Name: name, CanPublish: canPublish, ExpiresAt: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	no := false
	// The viewer joins first, so the publisher offers to it; a second
	// publisher joins last, so the viewer offers to it.
	pub := startPeer(t, server, "stage", "pub", peerOpts{tracks: newSynthSource(t, "pub").Tracks(), token: issue("pub", nil)})
	pubID := waitWelcome(t, pub)
	viewer := startPeer(t, server, "stage", "viewer", peerOpts{tracks: newSynthSource(t, "viewer").Tracks(), token: issue("viewer", &no)})
	viewerID := waitWelcome(t, viewer)
	late := startPeer(t, server, "stage", "late", peerOpts{tracks: newSynthSource(t, "late").Tracks(), token: issue("late", nil)})
	lateID := waitWelcome(t, late)

	waitFor(t, "viewer receives pub", mediaFrom(viewer, pubID))
	waitFor(t, "viewer receives late", mediaFrom(viewer, lateID))
	waitFor(t, "pub receives late", mediaFrom(pub, lateID))
	for _, r := range []*runner{pub, late} {
		ps, ok := peerStats(r, viewerID)
		if !ok || ps.State != "connected" {
			t.Fatalf("%s: connection to the viewer %+v", r.name, ps)
		}
		if ps.Video.FramesReceived != 0 || ps.Audio.PacketsReceived != 0 {
			t.Errorf("%s received %d frames and %d audio packets from the viewer, want none", r.name, ps.Video.FramesReceived, ps.Audio.PacketsReceived)
		}
	}
}
