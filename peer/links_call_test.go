package peer

import (
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/videochat/videochat/internal/looptest"
)

// TestLinksOnACall: a pion sender whose API is built with Links sends VP8
// to a pion receiver with pion's defaults. The receiver's TWCC feedback
// reaches the sender's estimator (Target becomes known, at most the
// ceiling), its PLI is counted, and Stats-side reads race with nothing
// (run with -race).
func TestLinksOnACall(t *testing.T) {
	const ceiling = 800_000
	ls := NewLinks(LinksConfig{Ceiling: ceiling})
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := ls.Register(me, ir); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	looptest.Restrict(&se)
	sendAPI := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	recvAPI := looptest.API(t, nil)

	tx, err := sendAPI.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	rx, err := recvAPI.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "s")
	if err != nil {
		t.Fatal(err)
	}
	sender, err := tx.AddTrack(track)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *webrtc.TrackRemote, 1)
	rx.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		select {
		case got <- tr:
		default:
		}
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
		}
	})
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() { // the sender's RTCP must be read for the interceptors to run
		defer close(stopped)
		for {
			if _, _, err := sender.ReadRTCP(); err != nil {
				return
			}
		}
	}()
	go func() { // 30 fps of 2 kB "frames" (a keyframe-looking first byte)
		tick := time.NewTicker(33 * time.Millisecond)
		defer tick.Stop()
		frame := make([]byte, 2000)
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				_ = track.WriteSample(media.Sample{Data: frame, Duration: 33 * time.Millisecond})
			}
		}
	}()
	t.Cleanup(func() {
		close(done)
		_ = tx.Close()
		_ = rx.Close()
		<-stopped
	})
	looptest.Connect(t, tx, rx)
	ssrc := uint32(sender.GetParameters().Encodings[0].SSRC)

	var remote *webrtc.TrackRemote
	select {
	case remote = <-got:
	case <-time.After(30 * time.Second):
		t.Fatal("no track at the receiver")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		l := ls.lookup(tx.ID())
		if l != nil && l.twccAt.Load() != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no TWCC feedback reached the sender's link")
		}
		time.Sleep(50 * time.Millisecond)
	}
	bps, ok := ls.Target(ssrc)
	if !ok || bps <= 0 || bps > ceiling {
		t.Errorf("Target = %d, %v; want a known estimate within (0, %d]", bps, ok, ceiling)
	}
	if err := rx.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(remote.SSRC())}}); err != nil {
		t.Fatal(err)
	}
	for {
		st, ok := ls.stats(tx.ID(), ssrc, 0)
		if ok && st.PLIs > 0 {
			t.Logf("link: %+v", st)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the receiver's PLI was not counted")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
