// Package looptest builds pion WebRTC APIs for tests whose peer connections
// stay on the loopback interface: loopback host candidates, the interface
// "lo" only, no mDNS, and IPv4 UDP unless told otherwise.
package looptest

import (
	"testing"
	"time"

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
	return newAPI(tb, me, se, webrtc.RegisterDefaultInterceptors)
}

// InterceptorAPI is API with the interceptors register adds (e.g. a
// peer.Links' Register) instead of pion's defaults.
func InterceptorAPI(tb testing.TB, me *webrtc.MediaEngine, register func(*webrtc.MediaEngine, *interceptor.Registry) error) *webrtc.API {
	tb.Helper()
	se := webrtc.SettingEngine{}
	Restrict(&se)
	return newAPI(tb, me, se, register)
}

func newAPI(tb testing.TB, me *webrtc.MediaEngine, se webrtc.SettingEngine, register func(*webrtc.MediaEngine, *interceptor.Registry) error) *webrtc.API {
	tb.Helper()
	if me == nil {
		me = &webrtc.MediaEngine{}
		if err := me.RegisterDefaultCodecs(); err != nil {
			tb.Fatal(err)
		}
	}
	ir := &interceptor.Registry{}
	if err := register(me, ir); err != nil {
		tb.Fatal(err)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
}

// Connect negotiates offerer with answerer without trickle ICE: offerer
// offers, both gather all their candidates before their description is
// handed over, and offerer applies the answer.
func Connect(tb testing.TB, offerer, answerer *webrtc.PeerConnection) {
	tb.Helper()
	if err := answerer.SetRemoteDescription(Offer(tb, offerer)); err != nil {
		tb.Fatal(err)
	}
	answer, err := answerer.CreateAnswer(nil)
	if err != nil {
		tb.Fatal(err)
	}
	if err := offerer.SetRemoteDescription(setGathered(tb, answerer, answer)); err != nil {
		tb.Fatal(err)
	}
}

// Offer creates pc's offer, sets it as pc's local description and returns
// it once it holds all of pc's candidates: the offer of a client without
// trickle ICE (WHIP, or one side of Connect).
func Offer(tb testing.TB, pc *webrtc.PeerConnection) webrtc.SessionDescription {
	tb.Helper()
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return setGathered(tb, pc, offer)
}

// gatherTimeout bounds the wait for a description's candidates; generous
// for a shared machine (loopback gathering takes milliseconds).
const gatherTimeout = time.Minute

// setGathered sets d as pc's local description and returns that
// description once ICE gathering has completed.
func setGathered(tb testing.TB, pc *webrtc.PeerConnection, d webrtc.SessionDescription) webrtc.SessionDescription {
	tb.Helper()
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(d); err != nil {
		tb.Fatal(err)
	}
	select {
	case <-gathered:
	case <-time.After(gatherTimeout):
		tb.Fatalf("ICE gathering of the %s did not complete in %v", d.Type, gatherTimeout)
	}
	return *pc.LocalDescription()
}
