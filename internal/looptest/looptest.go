// Package looptest builds pion WebRTC APIs for tests whose peer connections
// stay on the loopback interface: loopback host candidates, the interface
// "lo" only, no mDNS, and IPv4 UDP unless told otherwise.
package looptest

import (
	"testing"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// Restrict confines se to loopback: it includes loopback candidates, keeps
// only the interface "lo", disables mDNS and allows the given network types
// (webrtc.NetworkTypeUDP4 when none are given).
func Restrict(se *webrtc.SettingEngine, types ...webrtc.NetworkType) {
	if len(types) == 0 {
		types = []webrtc.NetworkType{webrtc.NetworkTypeUDP4}
	}
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetNetworkTypes(types)
}

// API returns a webrtc.API restricted to loopback UDP over IPv4 (see
// Restrict), with the codecs of me (nil: pion's default codecs) and pion's
// default interceptors.
func API(tb testing.TB, me *webrtc.MediaEngine) *webrtc.API {
	tb.Helper()
	se := webrtc.SettingEngine{}
	Restrict(&se)
	return NewAPI(tb, me, se)
}

// NewAPI returns a webrtc.API with the codecs of me (nil: pion's default
// codecs), pion's default interceptors and se, for tests that set up their
// own network, e.g. a virtual one.
func NewAPI(tb testing.TB, me *webrtc.MediaEngine, se webrtc.SettingEngine) *webrtc.API {
	tb.Helper()
	if me == nil {
		me = &webrtc.MediaEngine{}
		if err := me.RegisterDefaultCodecs(); err != nil {
			tb.Fatal(err)
		}
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		tb.Fatal(err)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
}

// Connect negotiates offerer with answerer without trickle ICE: offerer
// offers, both gather all their candidates before their description is
// handed over, and offerer applies the answer.
func Connect(tb testing.TB, offerer, answerer *webrtc.PeerConnection) {
	tb.Helper()
	offer, err := offerer.CreateOffer(nil)
	if err != nil {
		tb.Fatal(err)
	}
	if err := offerer.SetRemoteDescription(exchange(tb, offerer, answerer, offer)); err != nil {
		tb.Fatal(err)
	}
}

// exchange sets offer as offerer's local description, waits for its
// candidates, applies the result to answerer, and returns answerer's answer
// with all its candidates.
func exchange(tb testing.TB, offerer, answerer *webrtc.PeerConnection, offer webrtc.SessionDescription) webrtc.SessionDescription {
	tb.Helper()
	gathered := webrtc.GatheringCompletePromise(offerer)
	if err := offerer.SetLocalDescription(offer); err != nil {
		tb.Fatal(err)
	}
	<-gathered
	if err := answerer.SetRemoteDescription(*offerer.LocalDescription()); err != nil {
		tb.Fatal(err)
	}
	answer, err := answerer.CreateAnswer(nil)
	if err != nil {
		tb.Fatal(err)
	}
	gathered = webrtc.GatheringCompletePromise(answerer)
	if err := answerer.SetLocalDescription(answer); err != nil {
		tb.Fatal(err)
	}
	<-gathered
	return *answerer.LocalDescription()
}
