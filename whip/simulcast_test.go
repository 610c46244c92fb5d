package whip_test

import (
	"context"
	"sync"
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

// layerSink records, per received video packet, the layer mark the
// publisher put in the payload, and the sequence-number jumps.
type layerSink struct {
	mu       sync.Mutex
	byLayer  map[byte]int
	last     byte
	lastSeq  uint16
	started  bool
	maxJump  int
	jumpsBig int
	total    int
}

func newLayerSink() *layerSink { return &layerSink{byLayer: map[byte]int{}} }

func (s *layerSink) WriteRTP(p *rtp.Packet) {
	if len(p.Payload) < 3 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byLayer[p.Payload[2]]++
	s.last = p.Payload[2]
	s.total++
	if s.started {
		d := int(int16(p.SequenceNumber - s.lastSeq))
		if d > s.maxJump {
			s.maxJump = d
		}
		if d > 50 || d < -50 {
			s.jumpsBig++
		}
	}
	s.started, s.lastSeq = true, p.SequenceNumber
}
func (s *layerSink) SenderReport(time.Time, uint32) {}
func (s *layerSink) Close()                         {}

func (s *layerSink) snapshot() (map[byte]int, byte, int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[byte]int{}
	for k, v := range s.byLayer {
		m[k] = v
	}
	return m, s.last, s.jumpsBig, s.total
}

// simLayer writes VP8-shaped frames on one simulcast encoding: each
// packet's payload is a VP8 descriptor (start of partition 0), a VP8
// header byte (key frame every 30 frames, or at once after a PLI), and
// the layer's mark; frames are `packets` packets of `size` bytes.
type simLayer struct {
	track   *webrtc.TrackLocalStaticRTP
	mark    byte
	size    int
	packets int
	paused  atomic.Bool
	key     atomic.Bool // a PLI asked for a key frame
	// ext are the mid and rid header extensions every packet carries (pion
	// does not add them to simulcast encodings); nothing is sent before
	// they are known.
	ext atomic.Pointer[[]hdrExt]
}

type hdrExt struct {
	id      uint8
	payload []byte
}

// setExt sets the header extensions from the negotiated ids.
func (l *simLayer) setExt(params webrtc.RTPSendParameters, mid, rid string) {
	var ext []hdrExt
	for _, h := range params.HeaderExtensions {
		switch h.URI {
		case "urn:ietf:params:rtp-hdrext:sdes:mid":
			ext = append(ext, hdrExt{uint8(h.ID), []byte(mid)})
		case "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id":
			ext = append(ext, hdrExt{uint8(h.ID), []byte(rid)})
		}
	}
	l.ext.Store(&ext)
}

func (l *simLayer) run(stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	tick := time.NewTicker(33 * time.Millisecond)
	defer tick.Stop()
	payload := make([]byte, l.size)
	var seq uint16
	for frame := 0; ; frame++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		ext := l.ext.Load()
		if l.paused.Load() || ext == nil {
			continue
		}
		key := frame%30 == 0 || l.key.Swap(false)
		for i := range l.packets {
			payload[0] = 0x00
			if i == 0 {
				payload[0] = 0x10 // S: start of partition 0
			}
			payload[1] = 0x01 // P: inter frame
			if key {
				payload[1] = 0x00
			}
			payload[2] = l.mark
			seq++
			h := rtp.Header{Version: 2, Marker: i == l.packets-1, SequenceNumber: seq, Timestamp: uint32(frame) * 3000}
			for _, x := range *ext {
				_ = h.SetExtension(x.id, x.payload)
			}
			_ = l.track.WriteRTP(&rtp.Packet{Header: h, Payload: payload})
		}
	}
}

// videoWatcher starts a server and a room participant "bob" in room whose
// video goes to the returned sink, and a publisher connection for the test
// to offer from.
func videoWatcher(t *testing.T, wc whip.Config, room string) (*env, *layerSink, *webrtc.PeerConnection) {
	t.Helper()
	e := startEnv(t, signal.Config{}, wc)
	sink := newLayerSink()
	startRoomPeer(t, e, room, "bob", nil, func(rt peer.RemoteTrack) peer.TrackSink {
		if rt.Kind == webrtc.RTPCodecTypeVideo {
			return sink
		}
		return nil
	})
	pc, err := e.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	return e, sink, pc
}

// TestWHIPSimulcast: a pion publisher sends two simulcast layers (rids
// "h", 3 × 1000-byte packets a frame, and "l", one 200-byte packet a
// frame). The room receiver gets only "h", the highest-bitrate layer;
// when the publisher pauses "h" the receiver gets "l", with sequence
// numbers continuing; when "h" resumes it gets "h" again.
func TestWHIPSimulcast(t *testing.T) {
	e, sink, pc := videoWatcher(t, whip.Config{KeyFrameInterval: 100 * time.Millisecond}, "sim")
	codec := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	mk := func(rid string, mark byte, size, packets int) *simLayer {
		tr, err := webrtc.NewTrackLocalStaticRTP(codec, "video", "sim", webrtc.WithRTPStreamID(rid))
		if err != nil {
			t.Fatal(err)
		}
		return &simLayer{track: tr, mark: mark, size: size, packets: packets}
	}
	// "l" first: the layer order of the offer does not decide.
	low, high := mk("l", 'l', 200, 1), mk("h", 'h', 1000, 3)
	tc, err := pc.AddTransceiverFromTrack(low.track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		t.Fatal(err)
	}
	if err := tc.Sender().AddEncoding(high.track); err != nil {
		t.Fatal(err)
	}
	sender := tc.Sender()
	byRID := map[string]*simLayer{"l": low, "h": high}
	ssrcs := map[uint32]*simLayer{}
	for _, enc := range sender.GetParameters().Encodings {
		ssrcs[uint32(enc.SSRC)] = byRID[enc.RID]
	}
	for rid := range byRID {
		go func() {
			for {
				pkts, _, err := sender.ReadSimulcastRTCP(rid)
				if err != nil {
					return
				}
				for _, p := range pkts {
					if pli, ok := p.(*rtcp.PictureLossIndication); ok {
						if l := ssrcs[pli.MediaSSRC]; l != nil {
							l.key.Store(true)
						}
					}
				}
			}
		}()
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go low.run(stop, &wg)
	go high.run(stop, &wg)
	t.Cleanup(func() { close(stop); wg.Wait() })
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	sess, err := whip.Dial(ctx, nil, e.url+"/whip/sim?name=browser", "", pc)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	t.Cleanup(func() { _ = sess.Close(context.Background()) })
	for rid, l := range byRID {
		l.setExt(sender.GetParameters(), tc.Mid(), rid)
	}

	// Phase 1: the highest layer, and only it.
	waitFor(t, "90 packets of layer h", func() bool { m, _, _, _ := sink.snapshot(); return m['h'] >= 90 })
	if m, _, _, _ := sink.snapshot(); m['l'] != 0 {
		t.Errorf("receiver got %d packets of layer l before any switch, want 0 (one layer forwarded)", m['l'])
	}
	// Phase 2: "h" paused: "l" takes over.
	high.paused.Store(true)
	waitFor(t, "layer l after h paused", func() bool { _, last, _, _ := sink.snapshot(); return last == 'l' })
	m, _, _, _ := sink.snapshot()
	waitFor(t, "30 more packets of layer l", func() bool { m2, _, _, _ := sink.snapshot(); return m2['l'] >= m['l']+30 })
	// Phase 3: "h" back: it takes over again (its bitrate is 15× l's).
	high.paused.Store(false)
	waitFor(t, "layer h again", func() bool { _, last, _, _ := sink.snapshot(); return last == 'h' })
	if _, _, jumps, total := sink.snapshot(); jumps != 0 {
		t.Errorf("%d sequence-number jumps over 50 in %d packets across layer switches, want 0 (rewritten)", jumps, total)
	}
}

// rawVideo is a TrackLocal that writes packets with the payload type the
// test chooses (pion's static tracks always use the negotiated one): a
// publisher that changes codec without renegotiating.
type rawVideo struct {
	mu sync.Mutex
	w  webrtc.TrackLocalWriter
	ss webrtc.SSRC
	pt webrtc.PayloadType
}

func (r *rawVideo) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	for _, c := range ctx.CodecParameters() {
		if c.MimeType == webrtc.MimeTypeVP8 {
			r.mu.Lock()
			r.w, r.ss, r.pt = ctx.WriteStream(), ctx.SSRC(), c.PayloadType
			r.mu.Unlock()
			return c, nil
		}
	}
	return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
}
func (r *rawVideo) Unbind(webrtc.TrackLocalContext) error { return nil }
func (r *rawVideo) ID() string                            { return "video" }
func (r *rawVideo) RID() string                           { return "" }
func (r *rawVideo) StreamID() string                      { return "raw" }
func (r *rawVideo) Kind() webrtc.RTPCodecType             { return webrtc.RTPCodecTypeVideo }

// write sends one packet with payload type pt (0: the negotiated one).
func (r *rawVideo) write(seq uint16, pt uint8, mark byte) {
	r.mu.Lock()
	w, ssrc, neg := r.w, r.ss, r.pt
	r.mu.Unlock()
	if w == nil {
		return
	}
	if pt == 0 {
		pt = uint8(neg)
	}
	payload := []byte{0x10, 0x00, mark, 0, 0, 0, 0, 0}
	_, _ = w.WriteRTP(&rtp.Header{Version: 2, Marker: true, SequenceNumber: seq, Timestamp: uint32(seq) * 3000, SSRC: uint32(ssrc), PayloadType: pt}, payload)
}

// TestWHIPCodecChangeWithoutRenegotiation: a publisher that switches its
// video to other payload types mid-stream (one negotiated for audio, one
// never negotiated) has those packets dropped, never forwarded as VP8, and
// its stream keeps flowing when it sends VP8 again.
func TestWHIPCodecChangeWithoutRenegotiation(t *testing.T) {
	e, sink, pc := videoWatcher(t, whip.Config{}, "codec")
	raw := &rawVideo{}
	for _, tr := range []webrtc.TrackLocal{raw, newSynth(t, "switcher").Audio} {
		if _, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	sess, err := whip.Dial(ctx, nil, e.url+"/whip/codec?name=switcher", "", pc)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	t.Cleanup(func() { _ = sess.Close(context.Background()) })
	var seq uint16
	send := func(n int, pt uint8, mark byte) {
		for range n {
			seq++
			raw.write(seq, pt, mark)
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor(t, "VP8 packets at the receiver", func() bool {
		send(10, 0, 'v')
		m, _, _, _ := sink.snapshot()
		return m['v'] >= 20
	})
	opusPT, ok := negotiatedPT(pc, webrtc.MimeTypeOpus)
	if !ok {
		t.Fatal("no Opus payload type in the session")
	}
	send(50, opusPT, 'o') // a payload type of the session, for audio
	send(50, 123, 'x')    // never negotiated
	m, _, _, _ := sink.snapshot()
	waitFor(t, "VP8 packets after the change", func() bool {
		send(10, 0, 'v')
		m2, _, _, _ := sink.snapshot()
		return m2['v'] >= m['v']+20
	})
	if m, _, _, _ := sink.snapshot(); m['o']+m['x'] != 0 {
		t.Errorf("receiver got %d packets of other payload types as video, want 0", m['o']+m['x'])
	}
}

// negotiatedPT returns the payload type the remote description gives
// mime, if any.
func negotiatedPT(pc *webrtc.PeerConnection, mime string) (uint8, bool) {
	for _, tr := range pc.GetTransceivers() {
		for _, c := range tr.Sender().GetParameters().Codecs {
			if c.MimeType == mime {
				return uint8(c.PayloadType), true
			}
		}
	}
	return 0, false
}
