package whip

// The interceptors of the server's forwarding PeerConnections. Every RTP
// packet a WHIP publisher sends passes each interceptor once on the way in
// and once per room receiver on the way out, so the set is the one
// forwarding needs for correctness and nothing more:
//
//   - NACK generator (toward the publisher: peer.NewNACKGenerator, which
//     sees the packets repaired through RTX and stops asking for them)
//     and responder (toward each receiver): loss repair on both hops.
//   - RTCP sender and receiver reports: receivers need our sender reports
//     for lip sync and their round-trip time; the publisher needs our
//     receiver reports.
//   - TWCC feedback toward the publisher: its congestion control (OBS,
//     browsers, join --whip) runs on it.
//
// The NACK generator's ticker starts with the first remote video stream
// (none on the room side of a session), and TWCC feedback is recorded
// without a goroutine switch per packet, with each packet's kernel arrival
// time when reads are batched (peer.NewTWCCFeedback, internal/rxbatch).
//   - The mid/rid/repaired-rid header extensions, so a simulcast publisher
//     can be told its layers apart.
//
// Left out: pion's stats interceptor (per-packet bookkeeping behind
// PeerConnection.GetStats, which the server never calls).

import (
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/webrtc/v4"

	"github.com/videochat/videochat/peer"
)

// RegisterInterceptors registers on me and ir what the server's WHIP/WHEP
// PeerConnections need (see the file comment), instead of
// webrtc.RegisterDefaultInterceptors. twcc configures the TWCC feedback
// (its Arrival: the server Net's rxbatch.Arrivals.Lookup, when reads are
// batched). Register the codecs on me first.
func RegisterInterceptors(me *webrtc.MediaEngine, ir *interceptor.Registry, twcc peer.TWCCFeedbackConfig) error {
	responder, err := nack.NewResponderInterceptor()
	if err != nil {
		return err
	}
	me.RegisterFeedback(webrtc.RTCPFeedback{Type: "nack"}, webrtc.RTPCodecTypeVideo)
	me.RegisterFeedback(webrtc.RTCPFeedback{Type: "nack", Parameter: "pli"}, webrtc.RTPCodecTypeVideo)
	ir.Add(responder)
	ir.Add(peer.NewNACKGenerator(peer.NACKGeneratorConfig{}))
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return err
	}
	if err := webrtc.ConfigureSimulcastExtensionHeaders(me); err != nil {
		return err
	}
	return peer.ConfigureTWCCFeedback(me, ir, twcc) // on the reading goroutine, arrival times from twcc.Arrival
}
