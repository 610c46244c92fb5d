package whip

// The interceptors of the server's forwarding PeerConnections. Every RTP
// packet a WHIP publisher sends passes each interceptor once on the way in
// and once per room receiver on the way out, so the set is the one
// forwarding needs for correctness and nothing more:
//
//   - NACK generator (toward the publisher) and responder (toward each
//     receiver): loss repair on both hops.
//   - RTCP sender and receiver reports: receivers need our sender reports
//     for lip sync and their round-trip time; the publisher needs our
//     receiver reports.
//   - TWCC feedback toward the publisher: its congestion control (OBS,
//     browsers, join --whip) runs on it.
//   - The mid/rid/repaired-rid header extensions, so a simulcast publisher
//     can be told its layers apart.
//
// Left out: pion's stats interceptor (per-packet bookkeeping behind
// PeerConnection.GetStats, which the server never calls).

import (
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// RegisterInterceptors registers on me and ir what the server's WHIP/WHEP
// PeerConnections need (see the file comment), instead of
// webrtc.RegisterDefaultInterceptors. Register the codecs on me first.
func RegisterInterceptors(me *webrtc.MediaEngine, ir *interceptor.Registry) error {
	if err := webrtc.ConfigureNack(me, ir); err != nil {
		return err
	}
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return err
	}
	if err := webrtc.ConfigureSimulcastExtensionHeaders(me); err != nil {
		return err
	}
	return webrtc.ConfigureTWCCSender(me, ir)
}
