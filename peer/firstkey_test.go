package peer_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/videochat/videochat/internal/looptest"
	"github.com/videochat/videochat/internal/rxbatch"
	"github.com/videochat/videochat/peer"
)

// keyTrack is a VP8-shaped video track that behaves like an encoder: its
// first frame on a new binding is a key frame, later ones are inter frames
// unless RequestKeyFrame was called. Frames every 5 ms until the test
// ends. Payloads are not decodable; only the VP8 key bit matters.
type keyTrack struct {
	*webrtc.TrackLocalStaticSample
	key      atomic.Bool
	requests atomic.Int32
	unsent   atomic.Int32 // packets pion took without sending (n = 0)
	stop     chan struct{}
	wg       sync.WaitGroup
}

func newKeyTrack(t *testing.T) *keyTrack {
	t.Helper()
	v, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "kt")
	if err != nil {
		t.Fatal(err)
	}
	k := &keyTrack{TrackLocalStaticSample: v, stop: make(chan struct{})}
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		buf := make([]byte, 800)
		for {
			select {
			case <-k.stop:
				return
			case <-tick.C:
			}
			buf[0] = 1 // VP8 frame tag bit 0: 1 = inter frame
			if k.key.Swap(false) {
				buf[0] = 0
			}
			_ = v.WriteSample(media.Sample{Data: buf, Duration: 5 * time.Millisecond})
		}
	}()
	t.Cleanup(func() { close(k.stop); k.wg.Wait() })
	return k
}

// Bind starts the binding with a key frame, as capture's encoders do.
func (k *keyTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	c, err := k.TrackLocalStaticSample.Bind(countingContext{ctx, &k.unsent})
	k.key.Store(true)
	return c, err
}

type countingContext struct {
	webrtc.TrackLocalContext
	unsent *atomic.Int32
}

func (c countingContext) WriteStream() webrtc.TrackLocalWriter {
	return countingWriter{c.TrackLocalContext.WriteStream(), c.unsent}
}

type countingWriter struct {
	webrtc.TrackLocalWriter
	unsent *atomic.Int32
}

func (w countingWriter) WriteRTP(h *rtp.Header, p []byte) (int, error) {
	n, err := w.TrackLocalWriter.WriteRTP(h, p)
	if n == 0 && err == nil {
		w.unsent.Add(1)
	}
	return n, err
}

func (k *keyTrack) RequestKeyFrame() {
	k.requests.Add(1)
	k.key.Store(true)
}

// firstFrameSink records whether the first video packet it gets starts a
// key frame.
type firstFrameSink struct {
	got, key atomic.Bool
}

func (s *firstFrameSink) WriteRTP(p *rtp.Packet) {
	if len(p.Payload) < 2 || s.got.Load() {
		return
	}
	// VP8 payload descriptor (1 byte, no picture id), then the frame tag.
	s.key.Store(p.Payload[1]&1 == 0)
	s.got.Store(true)
}
func (s *firstFrameSink) SenderReport(time.Time, uint32) {}
func (s *firstFrameSink) Close()                         {}

// TestFirstVideoFrameIsKey: a call whose handshake is slowed by coalesced
// reads on both sides (internal/rxbatch, 50 ms, what join's --read-batch
// does) starts with a key frame at the receiver. pion takes what a sender
// writes before the connection's SRTP session exists without sending it;
// the peers' tracks are bound only once the connection is up (an offerer
// that binds them before would lose its first key frame: capture's
// TestFirstFrameIsKeyAfterSlowHandshake), and unsent counts such packets.
func TestFirstVideoFrameIsKey(t *testing.T) {
	api := func() *webrtc.API {
		base, err := stdnet.NewNet()
		if err != nil {
			t.Fatal(err)
		}
		se := webrtc.SettingEngine{}
		looptest.Restrict(&se)
		se.SetNet(rxbatch.NewNet(base, rxbatch.Config{Period: 50 * time.Millisecond}))
		return looptest.NewAPI(t, nil, se)
	}
	server := startServer(t)
	room := "firstkey"
	kt := newKeyTrack(t)
	sink := &firstFrameSink{}
	startPeer(t, server, room, "receiver", peerOpts{api: api(), onTrack: func(rt peer.RemoteTrack) peer.TrackSink {
		if rt.Kind != webrtc.RTPCodecTypeVideo {
			return nil
		}
		return sink
	}})
	// The newcomer offers: the sender, whose RTP senders then start when
	// it applies the answer, before ICE and DTLS.
	startPeer(t, server, room, "sender", peerOpts{api: api(), tracks: []webrtc.TrackLocal{kt}})
	waitFor(t, "the first video packet", func() error {
		if !sink.got.Load() {
			return errors.New("not yet")
		}
		return nil
	})
	t.Logf("packets pion took without sending: %d; key-frame requests: %d", kt.unsent.Load(), kt.requests.Load())
	if !sink.key.Load() {
		t.Fatalf("the first video frame received is an inter frame: the connection's first key frame was lost (key-frame requests at the sender so far: %d)", kt.requests.Load())
	}
}
