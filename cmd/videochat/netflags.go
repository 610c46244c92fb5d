package main

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/webrtc/v4"
	"github.com/spf13/pflag"

	"github.com/videochat/videochat/internal/rxbatch"
	"github.com/videochat/videochat/peer"
)

// defaultReadBatch is --read-batch's default (BENCHMARKS.md, "Remote video
// view", issue 12: coalesced reads).
const defaultReadBatch = 10 * time.Millisecond

// netFlags choose how the native peer uses the network for ICE.
type netFlags struct {
	loopback   bool
	interfaces []string
	mdns       bool
	readBatch  time.Duration
}

func (f *netFlags) register(fl *pflag.FlagSet) {
	fl.BoolVar(&f.loopback, "ice-loopback", false, "offer loopback candidates (on by itself when --server is a loopback address)")
	fl.StringSliceVar(&f.interfaces, "ice-interface", nil, "only gather candidates on these network interfaces (default: all)")
	fl.BoolVar(&f.mdns, "mdns", true, "resolve browsers' .local mDNS candidates (multicast on the LAN)")
	fl.DurationVar(&f.readBatch, "read-batch", defaultReadBatch, "coalesce the reads of the media sockets over this period (less CPU per packet, at most this much added delay; 0: read each datagram as it comes)")
}

// api builds the WebRTC API: codecs from register, the RTP header
// extensions the peer reads, the interceptors of links (congestion control,
// pacing, NACK, RTCP reports, TWCC) or pion's defaults when links is nil,
// the extra ones (nil entries skipped) and the ICE settings. With links,
// the media sockets' reads are coalesced over --read-batch.
func (f *netFlags) api(server string, register func(*webrtc.MediaEngine) error, links *peer.Links, extra ...interceptor.Factory) (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	if err := register(me); err != nil {
		return nil, fmt.Errorf("register codecs: %w", err)
	}
	if err := peer.RegisterHeaderExtensions(me); err != nil {
		return nil, fmt.Errorf("register header extensions: %w", err)
	}
	ir := &interceptor.Registry{}
	se := webrtc.SettingEngine{}
	interceptors := webrtc.RegisterDefaultInterceptors
	if links != nil {
		// Coalesced reads (internal/rxbatch), with the kernel's arrival
		// times for the TWCC feedback. Not without links: pion's default
		// TWCC feedback would stamp packets with the batch's read time.
		twcc := peer.TWCCFeedbackConfig{}
		if f.readBatch > 0 {
			base, err := stdnet.NewNet()
			if err != nil {
				return nil, fmt.Errorf("network: %w", err)
			}
			rx := rxbatch.NewNet(base, rxbatch.Config{Period: f.readBatch})
			se.SetNet(rx)
			twcc.Arrival = rx.Arrivals().Lookup
		}
		interceptors = func(me *webrtc.MediaEngine, ir *interceptor.Registry) error { return links.RegisterWith(me, ir, twcc) }
	}
	if err := interceptors(me, ir); err != nil {
		return nil, fmt.Errorf("register interceptors: %w", err)
	}
	for _, x := range extra {
		if x != nil {
			ir.Add(x)
		}
	}
	f.apply(&se, server)
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// apply sets the ICE options of the flags on se.
func (f *netFlags) apply(se *webrtc.SettingEngine, server string) {
	if f.loopback || isLoopbackURL(server) {
		se.SetIncludeLoopbackCandidate(true)
	}
	if len(f.interfaces) > 0 {
		allowed := slices.Clone(f.interfaces)
		se.SetInterfaceFilter(func(name string) bool { return slices.Contains(allowed, name) })
	}
	if !f.mdns {
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	}
}

// iceServers are extra ICE servers for the native peer; the server's own
// list arrives with the welcome message.
func (f *netFlags) iceServers() []webrtc.ICEServer {
	return nil
}

// isLoopbackURL reports whether raw names a loopback host.
func isLoopbackURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
