package main

import (
	"fmt"
	"net"
	"net/url"
	"slices"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
	"github.com/spf13/pflag"

	"github.com/videochat/videochat/peer"
)

// netFlags choose how the native peer uses the network for ICE.
type netFlags struct {
	loopback   bool
	interfaces []string
	mdns       bool
}

func (f *netFlags) register(fl *pflag.FlagSet) {
	fl.BoolVar(&f.loopback, "ice-loopback", false, "offer loopback candidates (on by itself when --server is a loopback address)")
	fl.StringSliceVar(&f.interfaces, "ice-interface", nil, "only gather candidates on these network interfaces (default: all)")
	fl.BoolVar(&f.mdns, "mdns", true, "resolve browsers' .local mDNS candidates (multicast on the LAN)")
}

// api builds the WebRTC API: codecs from register, the RTP header
// extensions the peer reads, the interceptors of links (congestion control,
// pacing, NACK, RTCP reports, TWCC) or pion's defaults when links is nil,
// the extra ones (nil entries skipped) and the ICE settings.
func (f *netFlags) api(server string, register func(*webrtc.MediaEngine) error, links *peer.Links, extra ...interceptor.Factory) (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	if err := register(me); err != nil {
		return nil, fmt.Errorf("register codecs: %w", err)
	}
	if err := peer.RegisterHeaderExtensions(me); err != nil {
		return nil, fmt.Errorf("register header extensions: %w", err)
	}
	ir := &interceptor.Registry{}
	interceptors := webrtc.RegisterDefaultInterceptors
	if links != nil {
		interceptors = links.Register
	}
	if err := interceptors(me, ir); err != nil {
		return nil, fmt.Errorf("register interceptors: %w", err)
	}
	for _, x := range extra {
		if x != nil {
			ir.Add(x)
		}
	}
	se := webrtc.SettingEngine{}
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
