package view_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/webrtc/v4"

	"github.com/videochat/videochat/capture"
	"github.com/videochat/videochat/internal/looptest"
	"github.com/videochat/videochat/internal/rxbatch"
	"github.com/videochat/videochat/internal/timestrip"
	"github.com/videochat/videochat/peer"
	"github.com/videochat/videochat/signal/proto"
	"github.com/videochat/videochat/view"
)

// BenchmarkGlassToGlass: native → native on loopback. The sender is
// capture's "test" pattern (640×480@30, 1 Mbps, VP8 or H.264), which
// writes its capture time into the picture (internal/timestrip); the
// receiver is a pion peer whose video goes through view.Sink (assemble,
// decode). The view is polled every millisecond like a renderer; each newly
// shown frame's strip is read back: latency = shown − captured. Reports
// p50/p90/p99 in ms over 300 frames. A display adds its own refresh on
// top (≤ 16.7 ms at 60 Hz).
//
//	go test -run '^$' -bench GlassToGlass -benchtime 1x ./view/
//
// The VP8-read-batch=… cases read the receiver's UDP socket in batches
// (internal/rxbatch, what join's --read-batch does): their difference to
// VP8 is the latency the coalesced reads add.
func BenchmarkGlassToGlass(b *testing.B) {
	for _, codec := range []string{webrtc.MimeTypeVP8, webrtc.MimeTypeH264} {
		b.Run(codec[6:], func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				glassToGlass(b, codec, 0)
			}
		})
	}
	for _, period := range []time.Duration{10 * time.Millisecond, 20 * time.Millisecond} {
		b.Run(fmt.Sprintf("VP8-read-batch=%v", period), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				glassToGlass(b, webrtc.MimeTypeVP8, period)
			}
		})
	}
}

// glassToGlass measures one codec; readBatch > 0 coalesces the receiver's
// reads over that period.
func glassToGlass(b *testing.B, codec string, readBatch time.Duration) {
	// The receiver registers only codec, so negotiation lands on it.
	recvME := &webrtc.MediaEngine{}
	for _, c := range []webrtc.RTPCodecParameters{codecVP8, codecH264} {
		if c.MimeType == codec {
			c.RTCPFeedback = []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}}
			if err := recvME.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
				b.Fatal(err)
			}
		}
	}
	sendME := &webrtc.MediaEngine{}
	if err := capture.RegisterCodecs(sendME); err != nil {
		b.Fatal(err)
	}
	media, err := capture.Open(capture.Config{Video: "test", Audio: "none"})
	if err != nil {
		b.Fatal(err)
	}
	defer media.Close()
	sender, err := looptest.API(b, sendME).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		b.Fatal(err)
	}
	recvSE := webrtc.SettingEngine{}
	looptest.Restrict(&recvSE)
	if readBatch > 0 {
		base, err := stdnet.NewNet()
		if err != nil {
			b.Fatal(err)
		}
		recvSE.SetNet(rxbatch.NewNet(base, rxbatch.Config{Period: readBatch}))
	}
	receiver, err := looptest.NewAPI(b, recvME, recvSE).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, tr := range media.Tracks() {
		rs, err := sender.AddTrack(tr)
		if err != nil {
			b.Fatal(err)
		}
		// The receiver's key frame requests reach the encoder, as in a
		// call (a key frame lost while the connection comes up is sent
		// again); the loop ends when the sender closes.
		kf, _ := tr.(interface{ RequestKeyFrame() })
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				pkts, _, err := rs.ReadRTCP()
				if err != nil {
					return
				}
				for _, p := range pkts {
					if _, ok := p.(*rtcp.PictureLossIndication); ok && kf != nil {
						kf.RequestKeyFrame()
					}
				}
			}
		}()
	}
	if _, err := receiver.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		b.Fatal(err)
	}
	v := view.New(view.Config{})
	receiver.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		ssrc := uint32(tr.SSRC())
		sink := v.Sink(peer.RemoteTrack{Peer: proto.PeerInfo{ID: "s", Name: "sender"}, Kind: tr.Kind(),
			Codec: tr.Codec(), SSRC: ssrc, RequestKeyFrame: func() {
				_ = receiver.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
			}})
		if sink == nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer sink.Close()
			for {
				p, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				sink.WriteRTP(p)
			}
		}()
	})
	looptest.Connect(b, sender, receiver)
	defer func() {
		_ = sender.Close()
		_ = receiver.Close()
		wg.Wait()
	}()

	var lat []time.Duration
	var last uint64
	deadline := time.Now().Add(60 * time.Second)
	b.ResetTimer()
	for len(lat) < 300 && time.Now().Before(deadline) {
		ts, _ := v.Tiles()
		if len(ts) == 1 && ts[0].Frame != nil && ts[0].Seq != last {
			last = ts[0].Seq
			now := time.Now()
			if at, ok := timestrip.Read(ts[0].Frame, now); ok {
				lat = append(lat, now.Sub(at))
			}
		}
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	if len(lat) < 100 {
		b.Fatalf("only %d frames with a readable time strip; receiver %s, view %+v", len(lat), receiver.ICEConnectionState(), v.Stats().Total)
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e6 }
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.9), "p90-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	s := v.Stats()
	b.Logf("%s: %d frames, p50 %.1f ms, p90 %.1f ms, p99 %.1f ms; %s", codec, len(lat), pct(0.5), pct(0.9), pct(0.99),
		fmt.Sprintf("%+v", s.Total))
}
