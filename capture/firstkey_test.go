package capture

import (
	"testing"
	"time"

	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/webrtc/v4"

	"github.com/videochat/videochat/internal/looptest"
	"github.com/videochat/videochat/internal/rxbatch"
)

// TestFirstFrameIsKeyAfterSlowHandshake: a pion sender that offers binds
// its tracks when it applies the answer, before ICE and DTLS, and pion
// takes the packets written before the connection's SRTP session exists
// without sending them (n = 0, no error). Here the receiver's reads are
// coalesced over 50 ms (internal/rxbatch), which makes the handshake
// longer than the first frame: the encoder's first keyframe is taken
// that way. The first video packet the receiver gets must still start a
// keyframe, without the receiver asking for one (no PLI here).
func TestFirstFrameIsKeyAfterSlowHandshake(t *testing.T) {
	m := openMedia(t, Config{Video: "test", Audio: "none"})
	base, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	me := &webrtc.MediaEngine{}
	if err := RegisterCodecs(me); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	looptest.Restrict(&se)
	se.SetNet(rxbatch.NewNet(base, rxbatch.Config{Period: 50 * time.Millisecond}))
	recvAPI := looptest.NewAPI(t, me, se)

	c := newCall(t, newAPI(t, RegisterCodecs), recvAPI)
	c.recv.OnTrack(c.rx.onTrack) // c.rx.pli stays nil: no key-frame requests
	for _, tr := range m.Tracks() {
		s, err := c.send.AddTrack(tr)
		if err != nil {
			t.Fatal(err)
		}
		go readRTCP(s, tr)
	}
	looptest.Connect(t, c.send, c.recv)
	eventually(t, "the first video packet", func() bool { return c.rx.firstKey.Load() != 0 })
	if c.rx.firstKey.Load() != 1 {
		t.Fatal("the first video packet received does not start a keyframe: the first keyframe was taken before SRTP was up and not sent again")
	}
	eventually(t, "10 frames", func() bool { return c.rx.frames.Load() >= 10 })
}
