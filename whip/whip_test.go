package whip_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/videochat/videochat/peer"
	"github.com/videochat/videochat/signal"
	"github.com/videochat/videochat/whip"
)

// publisher is a pion WHIP client sending synthetic media, counting the
// PLIs it receives.
type publisher struct {
	pc   *webrtc.PeerConnection
	sess *whip.ClientSession
	plis atomic.Int64
}

func publish(t *testing.T, e *env, url, token string) (*publisher, error) {
	t.Helper()
	pc, err := e.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	pub := &publisher{pc: pc}
	for _, tr := range newSynth(t, "pub").Tracks() {
		tc, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			t.Fatal(err)
		}
		sender := tc.Sender()
		go func() {
			for {
				pkts, _, err := sender.ReadRTCP()
				if err != nil {
					return
				}
				for _, p := range pkts {
					if _, ok := p.(*rtcp.PictureLossIndication); ok {
						pub.plis.Add(1)
					}
				}
			}
		}()
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	sess, err := whip.Dial(ctx, nil, url, token, pc)
	if err != nil {
		return nil, err
	}
	pub.sess = sess
	return pub, nil
}

// player is a pion WHEP client counting what it receives.
type player struct {
	pc            *webrtc.PeerConnection
	sess          *whip.ClientSession
	video, audio  atomic.Int64
	videoTracksOK atomic.Bool
}

func play(t *testing.T, e *env, url, token string) (*player, error) {
	t.Helper()
	pc, err := e.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	pl := &player{pc: pc}
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
			if tr.Kind() == webrtc.RTPCodecTypeVideo {
				pl.video.Add(1)
			} else {
				pl.audio.Add(1)
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	sess, err := whip.Dial(ctx, nil, url, token, pc)
	if err != nil {
		return nil, err
	}
	pl.sess = sess
	return pl, nil
}

// keySink counts packets and keeps the track's RequestKeyFrame.
type keySink struct {
	pkts atomic.Int64
}

func (k *keySink) WriteRTP(*rtp.Packet)           { k.pkts.Add(1) }
func (k *keySink) SenderReport(time.Time, uint32) {}
func (k *keySink) Close()                         {}

// TestWHIPPublishesIntoRoom: a WHIP publisher appears in the room under
// its name, a native participant receives its video and audio, its key
// frame requests reach the publisher as (rate-limited) PLI, and DELETE
// makes it leave.
func TestWHIPPublishesIntoRoom(t *testing.T) {
	e := startEnv(t, signal.Config{}, whip.Config{KeyFrameInterval: time.Second})
	keys := make(chan func(), 4)
	bob := startRoomPeer(t, e, "demo", "bob", nil, func(rt peer.RemoteTrack) peer.TrackSink {
		if rt.Kind == webrtc.RTPCodecTypeVideo {
			keys <- rt.RequestKeyFrame
		}
		return &keySink{}
	})
	pub, err := publish(t, e, e.url+"/whip/demo?name=obs", "")
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	// The answer pins one codec (and its RTX) per section, so the
	// publisher sends what the room track was made for.
	for line := range strings.Lines(pub.pc.RemoteDescription().SDP) {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], "m=") && len(f) > 5 {
			t.Errorf("answer section with %d payload types, want 1 or 2 (codec, RTX): %s", len(f)-3, strings.TrimSpace(line))
		}
	}
	waitFor(t, "bob to receive obs's video and audio", func() bool {
		ps, ok := bob.statsOf("obs")
		return ok && ps.Video.FramesReceived >= 30 && ps.Audio.PacketsReceived >= 10
	})
	key := <-keys
	before := pub.plis.Load()
	burst := time.Now()
	for range 20 {
		key()
	}
	waitFor(t, "a PLI at the publisher", func() bool { return pub.plis.Load() > before })
	time.Sleep(300 * time.Millisecond) // let any excess PLI arrive before counting
	// One PLI per KeyFrameInterval (1 s) passes, plus one of another
	// interval the burst may straddle; on a loaded machine the requests
	// may reach the limiter over more than a second, and each second
	// since the burst admits one more.
	if n, most := pub.plis.Load()-before, 2+int64(time.Since(burst)/time.Second); n > most {
		t.Errorf("20 key-frame requests in a burst gave %d PLIs at the publisher in %v; want at most %d (rate limit)", n, time.Since(burst).Round(time.Millisecond), most)
	}
	if err := pub.sess.Close(context.Background()); err != nil {
		t.Fatalf("DELETE: %v", err)
	}
	waitFor(t, "obs to leave the room", func() bool {
		_, ok := bob.statsOf("obs")
		return !ok && e.h.Sessions() == 0
	})
}

// TestWHEPFansOut: two WHEP players watch one participant; both receive
// its media through one watcher, which leaves when the last player does.
func TestWHEPFansOut(t *testing.T) {
	e := startEnv(t, signal.Config{}, whip.Config{})
	alice := startRoomPeer(t, e, "demo", "alice", newSynth(t, "alice").Tracks(), nil)
	var players []*player
	for range 2 {
		pl, err := play(t, e, e.url+"/whep/demo/alice", "")
		if err != nil {
			t.Fatalf("play: %v", err)
		}
		players = append(players, pl)
	}
	for i, pl := range players {
		waitFor(t, "player media", func() bool { return pl.video.Load() >= 30 && pl.audio.Load() >= 10 })
		t.Logf("player %d: %d video, %d audio packets", i, pl.video.Load(), pl.audio.Load())
	}
	watchers := 0
	for _, ps := range alice.p.Stats().Peers {
		if ps.Name == whip.WatcherName {
			watchers++
		}
	}
	if watchers != 1 {
		t.Errorf("alice has %d WHEP participants in the room, want 1 shared by both players", watchers)
	}
	for _, pl := range players {
		if err := pl.sess.Close(context.Background()); err != nil {
			t.Fatalf("DELETE: %v", err)
		}
	}
	waitFor(t, "the watcher to leave", func() bool {
		_, ok := alice.statsOf(whip.WatcherName)
		return !ok && e.h.Sessions() == 0
	})
}

// TestICERestartThroughPATCH: an ICE restart through PATCH gives a new
// ETag, and media keeps flowing.
func TestICERestartThroughPATCH(t *testing.T) {
	e := startEnv(t, signal.Config{}, whip.Config{})
	bob := startRoomPeer(t, e, "demo", "bob", nil, nil)
	pub, err := publish(t, e, e.url+"/whip/demo?name=obs", "")
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	frames := func() uint64 { ps, _ := bob.statsOf("obs"); return ps.Video.FramesReceived }
	waitFor(t, "media", func() bool { return frames() >= 30 })
	etag := pub.sess.ETag
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := pub.sess.RestartICE(ctx); err != nil {
		t.Fatalf("RestartICE: %v", err)
	}
	if pub.sess.ETag == "" || pub.sess.ETag == etag {
		t.Errorf("ETag after restart %q, before %q: want a new one", pub.sess.ETag, etag)
	}
	after := frames()
	waitFor(t, "media after the restart", func() bool { return frames() >= after+30 })
	if st := pub.pc.ICEConnectionState(); st != webrtc.ICEConnectionStateConnected && st != webrtc.ICEConnectionStateCompleted {
		t.Errorf("publisher ICE state %s after restart", st)
	}
	_ = http.NoBody
}
