package capture

import (
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/videochat/videochat/internal/looptest"
)

// testTimeout bounds every wait: the machine is shared and slow.
const testTimeout = 30 * time.Second

// newAPI returns a loopback-only pion API whose codecs are registered by reg.
func newAPI(t testing.TB, reg func(*webrtc.MediaEngine) error) *webrtc.API {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := reg(me); err != nil {
		t.Fatal(err)
	}
	return looptest.API(t, me)
}

// h264Only registers H.264 and Opus but not VP8, like a receiver that
// prefers H.264.
func h264Only(me *webrtc.MediaEngine) error {
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: withFeedback(capH264()), PayloadType: 102}, webrtc.RTPCodecTypeVideo); err != nil {
		return err
	}
	return me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: capOpus(), PayloadType: 111}, webrtc.RTPCodecTypeAudio)
}

// receiver records what arrives on one PeerConnection's remote tracks.
type receiver struct {
	mu        sync.Mutex
	mime      map[string]string // kind → codec MIME type
	frames    atomic.Int64      // video frames (RTP marker bits)
	keyframes atomic.Int64
	lastKey   atomic.Int64 // unix nanos of the last keyframe
	audio     atomic.Int64 // audio packets
	tsBack    atomic.Int64 // video frames whose timestamp went backwards
	firstKey  atomic.Int32 // 0: no video yet, 1: the first video packet started a keyframe, 2: it did not
	wg        sync.WaitGroup
	// pli, when set, asks the sender for a keyframe, as a browser does when
	// its first video packet is not one (packets sent before the
	// connection's SRTP was up are lost).
	pli func(ssrc uint32)
}

func (r *receiver) onTrack(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	r.mu.Lock()
	r.mime[tr.Kind().String()] = tr.Codec().MimeType
	r.mu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		var lastTS uint32
		first := true
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			if tr.Kind() == webrtc.RTPCodecTypeAudio {
				r.audio.Add(1)
				continue
			}
			key := isKeyFrameStart(tr.Codec().MimeType, p.Payload)
			if key || startsWithSPS(tr.Codec().MimeType, p.Payload) {
				r.firstKey.CompareAndSwap(0, 1)
			} else if r.firstKey.CompareAndSwap(0, 2) && r.pli != nil {
				r.pli(uint32(tr.SSRC()))
			}
			if key {
				r.keyframes.Add(1)
				r.lastKey.Store(time.Now().UnixNano())
			}
			if p.Marker {
				if !first && int32(p.Timestamp-lastTS) <= 0 {
					r.tsBack.Add(1)
				}
				first, lastTS = false, p.Timestamp
				r.frames.Add(1)
			}
		}
	}()
}

func (r *receiver) codec(kind string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mime[kind]
}

// isKeyFrameStart reports whether an RTP payload starts a keyframe.
func isKeyFrameStart(mime string, payload []byte) bool {
	switch strings.ToLower(mime) {
	case "video/vp8":
		var p codecs.VP8Packet
		if _, err := p.Unmarshal(payload); err != nil {
			return false
		}
		return p.S == 1 && p.PID == 0 && len(p.Payload) > 0 && p.Payload[0]&1 == 0
	case "video/h264":
		return h264PayloadHasIDR(payload)
	}
	return false
}

// startsWithSPS reports an H.264 payload that is an SPS or a STAP-A starting
// with one (what precedes an IDR).
func startsWithSPS(mime string, b []byte) bool {
	if !strings.EqualFold(mime, "video/h264") || len(b) < 4 {
		return false
	}
	return b[0]&0x1f == 7 || (b[0]&0x1f == 24 && b[3]&0x1f == 7)
}

func h264PayloadHasIDR(b []byte) bool {
	if len(b) < 2 {
		return false
	}
	switch b[0] & 0x1f {
	case 5:
		return true
	case 24: // STAP-A
		for i := 1; i+2 < len(b); {
			n := int(b[i])<<8 | int(b[i+1])
			if i+2 < len(b) && b[i+2]&0x1f == 5 {
				return true
			}
			i += 2 + n
		}
	case 28: // FU-A start of an IDR
		return b[1]&0x80 != 0 && b[1]&0x1f == 5
	}
	return false
}

// call is a sender PeerConnection connected to a receiving one.
type call struct {
	send, recv *webrtc.PeerConnection
	rx         *receiver
	senders    []*webrtc.RTPSender
}

// newCall makes a sender PC and a receiver PC, closed when the test ends.
func newCall(t testing.TB, sendAPI, recvAPI *webrtc.API) *call {
	t.Helper()
	c := &call{rx: &receiver{mime: map[string]string{}}}
	var err error
	if c.send, err = sendAPI.NewPeerConnection(webrtc.Configuration{}); err != nil {
		t.Fatal(err)
	}
	if c.recv, err = recvAPI.NewPeerConnection(webrtc.Configuration{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.close(t) })
	return c
}

// dial connects a new sender PC carrying tracks to a new receiver PC.
func dial(t testing.TB, sendAPI, recvAPI *webrtc.API, tracks []webrtc.TrackLocal) *call {
	t.Helper()
	c := newCall(t, sendAPI, recvAPI)
	c.recv.OnTrack(c.rx.onTrack)
	recv := c.recv
	c.rx.pli = func(ssrc uint32) {
		_ = recv.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
	}
	for _, tr := range tracks {
		s, err := c.send.AddTrack(tr)
		if err != nil {
			t.Fatal(err)
		}
		c.senders = append(c.senders, s)
		go readRTCP(s, tr)
	}
	looptest.Connect(t, c.send, c.recv)
	return c
}

// readRTCP reads a sender's RTCP (required for interceptors) until it
// closes, and passes PLI/FIR on to the track as the native peer does.
func readRTCP(s *webrtc.RTPSender, tr webrtc.TrackLocal) {
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.PictureLossIndication:
				if k, ok := tr.(KeyFrameRequester); ok {
					k.RequestKeyFrameFor(p.MediaSSRC)
				}
			case *rtcp.FullIntraRequest:
				if k, ok := tr.(KeyFrameRequester); ok {
					k.RequestKeyFrame()
				}
			}
		}
	}
}

func (c *call) close(t testing.TB) {
	for _, pc := range []*webrtc.PeerConnection{c.send, c.recv} {
		if pc != nil {
			if err := pc.Close(); err != nil && !errors.Is(err, io.ErrClosedPipe) {
				t.Log("close:", err)
			}
		}
	}
	c.rx.wg.Wait()
}

// eventually polls cond until it holds or the test timeout passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", testTimeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
