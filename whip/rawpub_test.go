package whip_test

import (
	"sync"
	"testing"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/transport/v5"
	"github.com/pion/webrtc/v4"

	"github.com/videochat/videochat/internal/looptest"
)

// rawPublisher is a bare pion publisher for the tests that watch what the
// server's interceptors send back: pion's default codecs and interceptors
// (its NACK responder answers with RTX), a send-only rawVideo track, on
// loopback. With twcc it stamps transport-wide sequence numbers; with a
// non-nil nw its sockets are nw's.
type rawPublisher struct {
	pc  *webrtc.PeerConnection
	tc  *webrtc.RTPTransceiver
	raw *rawVideo
	wg  sync.WaitGroup // onRTCP's reader
}

func newRawPublisher(t *testing.T, twcc bool, nw transport.Net) *rawPublisher {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		t.Fatal(err)
	}
	if twcc {
		if err := webrtc.ConfigureTWCCHeaderExtensionSender(me, ir); err != nil {
			t.Fatal(err)
		}
	}
	se := webrtc.SettingEngine{}
	looptest.Restrict(&se)
	if nw != nil {
		se.SetNet(nw)
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	p := &rawPublisher{pc: pc, raw: &rawVideo{}}
	t.Cleanup(func() {
		_ = pc.Close()
		p.wg.Wait()
	})
	p.tc, err = pc.AddTransceiverFromTrack(p.raw, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// onRTCP hands every RTCP packet the publisher's video sender receives to
// f, on one goroutine, until the connection closes.
func (p *rawPublisher) onRTCP(f func(rtcp.Packet)) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			pkts, _, err := p.tc.Sender().ReadRTCP()
			if err != nil {
				return
			}
			for _, pkt := range pkts {
				f(pkt)
			}
		}
	}()
}

// nacksFor counts the sequence numbers equal to seq that n asks for.
func nacksFor(n *rtcp.TransportLayerNack, seq uint16) int64 {
	var c int64
	for _, pair := range n.Nacks {
		for _, s := range pair.PacketList() {
			if s == seq {
				c++
			}
		}
	}
	return c
}
