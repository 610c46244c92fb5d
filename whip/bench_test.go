package whip_test

import (
	"context"
	"encoding/binary"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/videochat/videochat/internal/looptest"
	"github.com/videochat/videochat/peer"
	"github.com/videochat/videochat/signal"
	"github.com/videochat/videochat/whip"
)

// BenchmarkAddedLatency measures what the WHIP hop adds to the one-way
// delay of video packets on loopback: a publisher stamps each packet (one
// 1 KB packet per frame, 30 fps) with its send time, and the receiver
// records arrival minus stamp, (a) directly between two PeerConnections,
// as in the mesh, and (b) publisher → WHIP session → room participant →
// native room receiver. Encoding and decoding are the same on both paths
// and left out. It reports p50 and p95 of both and the p50 difference.
//
// Run: go test ./whip -run '^$' -bench AddedLatency -benchtime 1x
func BenchmarkAddedLatency(b *testing.B) {
	const frames = 300
	for range b.N {
		direct := directDelays(b, frames)
		via := whipDelays(b, frames)
		b.ReportMetric(pct(direct, 50), "direct-p50-ms")
		b.ReportMetric(pct(direct, 95), "direct-p95-ms")
		b.ReportMetric(pct(via, 50), "whip-p50-ms")
		b.ReportMetric(pct(via, 95), "whip-p95-ms")
		b.ReportMetric(pct(via, 50)-pct(direct, 50), "added-p50-ms")
	}
}

// stamper writes stamped VP8-shaped packets to a track until stop.
func stamper(tr *webrtc.TrackLocalStaticRTP, stop <-chan struct{}) {
	tick := time.NewTicker(33 * time.Millisecond)
	defer tick.Stop()
	payload := make([]byte, 1000)
	payload[0] = 0x10 // VP8 descriptor: start of partition
	for seq := uint16(0); ; seq++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		binary.BigEndian.PutUint64(payload[1:], uint64(time.Now().UnixNano()))
		_ = tr.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: seq, Timestamp: uint32(seq) * 3000}, Payload: payload})
	}
}

// delays collects arrival minus stamp, in milliseconds.
type delays struct {
	mu   sync.Mutex
	ms   []float64
	full chan struct{}
	n    int
}

func newDelays(n int) *delays { return &delays{full: make(chan struct{}), n: n} }

func (d *delays) add(payload []byte) {
	if len(payload) < 9 {
		return
	}
	ms := float64(time.Now().UnixNano()-int64(binary.BigEndian.Uint64(payload[1:]))) / 1e6
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.ms) < d.n {
		d.ms = append(d.ms, ms)
		if len(d.ms) == d.n {
			close(d.full)
		}
	}
}

func (d *delays) WriteRTP(p *rtp.Packet)         { d.add(p.Payload) }
func (d *delays) SenderReport(time.Time, uint32) {}
func (d *delays) Close()                         {}

// stampUntilFull sends stamped packets on tr (stamper) until d is full,
// and returns its delays.
func (d *delays) stampUntilFull(tb testing.TB, tr *webrtc.TrackLocalStaticRTP) []float64 {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); stamper(tr, stop) }()
	defer func() { close(stop); <-done }()
	return d.wait(tb)
}

func (d *delays) wait(tb testing.TB) []float64 {
	select {
	case <-d.full:
	case <-time.After(2 * time.Minute):
		tb.Fatal("not enough packets")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.ms)
}

func vp8Track(tb testing.TB) *webrtc.TrackLocalStaticRTP {
	tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "stamp")
	if err != nil {
		tb.Fatal(err)
	}
	return tr
}

func directDelays(b *testing.B, n int) []float64 {
	api := looptest.API(b, nil)
	tx, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Close()
	rx, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		b.Fatal(err)
	}
	defer rx.Close()
	tr := vp8Track(b)
	if _, err := tx.AddTrack(tr); err != nil {
		b.Fatal(err)
	}
	d := newDelays(n)
	rx.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			p, _, err := t.ReadRTP()
			if err != nil {
				return
			}
			d.add(p.Payload)
		}
	})
	looptest.Connect(b, tx, rx)
	return d.stampUntilFull(b, tr)
}

func whipDelays(b *testing.B, n int) []float64 {
	e := startEnv(b, signal.Config{}, whip.Config{})
	d := newDelays(n)
	startRoomPeer(b, e, "bench", "rx", nil, func(rt peer.RemoteTrack) peer.TrackSink {
		if rt.Kind == webrtc.RTPCodecTypeVideo {
			return d
		}
		return nil
	})
	pc, err := e.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		b.Fatal(err)
	}
	defer pc.Close()
	tr := vp8Track(b)
	if _, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sess, err := whip.Dial(ctx, nil, e.url+"/whip/bench?name=tx", "", pc)
	if err != nil {
		b.Fatal(err)
	}
	defer sess.Close(context.Background())
	return d.stampUntilFull(b, tr)
}

func pct(v []float64, p int) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[(len(s)-1)*p/100]
}
