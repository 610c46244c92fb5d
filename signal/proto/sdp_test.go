package proto

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSendsMedia(t *testing.T) {
	sdp := func(lines ...string) string {
		return "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" + strings.Join(lines, "\r\n") + "\r\n"
	}
	const audio, video = "m=audio 9 UDP/TLS/RTP/SAVPF 111", "m=video 9 UDP/TLS/RTP/SAVPF 96"
	for _, tt := range []struct {
		name string
		sdp  string
		want bool
	}{
		{"no media", sdp(), false},
		{"data channel only", sdp("m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "a=mid:0"), false},
		{"recvonly audio and video", sdp(audio, "a=recvonly", video, "a=recvonly"), false},
		{"inactive video", sdp(video, "a=inactive"), false},
		{"sendrecv video", sdp(audio, "a=recvonly", video, "a=sendrecv"), true},
		{"sendonly audio first", sdp(audio, "a=sendonly", video, "a=recvonly"), true},
		{"no direction: sendrecv by default", sdp(video, "a=mid:0"), true},
		{"session-level recvonly", sdp("a=recvonly", video), false},
		{"session-level recvonly, section sendonly", sdp("a=recvonly", video, "a=sendonly"), true},
		{"LF line ends", strings.ReplaceAll(sdp(video, "a=sendonly"), "\r\n", "\n"), true},
		{"direction on the data section does not count", sdp("m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "a=sendrecv", audio, "a=recvonly"), false},

		// Port 0. RFC 9143: bundle-only, or in a BUNDLE group, is live.
		{"second video section bundle-only sendrecv (offer)", sdp("a=group:BUNDLE 0 1", audio, "a=mid:0", "a=recvonly",
			"m=video 0 UDP/TLS/RTP/SAVPF 96", "a=bundle-only", "a=mid:1", "a=sendrecv"), true},
		{"bundle-only before the mid", sdp("a=group:BUNDLE 0 1", audio, "a=mid:0", "a=recvonly",
			"m=video 0 UDP/TLS/RTP/SAVPF 96", "a=mid:1", "a=bundle-only", "a=sendonly"), true},
		{"port 0 in the BUNDLE group (answer)", sdp("a=group:BUNDLE 0 1", audio, "a=mid:0", "a=recvonly",
			"m=video 0 UDP/TLS/RTP/SAVPF 96", "a=mid:1", "a=sendrecv"), true},
		{"bundle-only, no direction", sdp("a=group:BUNDLE 0 1", audio, "a=mid:0", "a=recvonly",
			"m=video 0 UDP/TLS/RTP/SAVPF 96", "a=bundle-only", "a=mid:1"), true},
		{"bundle-only recvonly", sdp("a=group:BUNDLE 0 1", audio, "a=mid:0", "a=recvonly",
			"m=video 0 UDP/TLS/RTP/SAVPF 96", "a=bundle-only", "a=mid:1", "a=recvonly"), false},
		// pion receives on a section with a mid whatever its port.
		{"port 0 outside every group, with a mid", sdp("a=group:BUNDLE 0", audio, "a=mid:0", "a=recvonly",
			"m=video 0 UDP/TLS/RTP/SAVPF 96", "a=mid:1", "a=sendrecv"), true},
		{"port 0 with a port count", sdp("m=video 0/2 RTP/AVP 96", "a=mid:1", "a=sendonly"), true},
		// Rejected or stopped as honest clients write it.
		{"stopped, as Chromium writes it", sdp("a=group:BUNDLE 0", audio, "a=mid:0", "a=recvonly",
			"m=video 0 UDP/TLS/RTP/SAVPF 96", "a=mid:1", "a=inactive"), false},
		{"rejected, as pion writes it (no mid, no direction)", sdp(audio, "a=mid:0", "a=recvonly",
			"m=video 0 UDP/TLS/RTP/SAVPF 0", "c=IN IP4 0.0.0.0"), false},
		{"rejected without a mid", sdp("m=video 0 UDP/TLS/RTP/SAVPF 96", "a=sendrecv"), false},
	} {
		if got := SendsMedia(tt.sdp); got != tt.want {
			t.Errorf("%s: SendsMedia = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestSendsMediaChromium checks SDP that Chromium 156 wrote (see
// testdata/sdp/README.md): its max-bundle offers and answers, a stopped
// transceiver, and its answer to an offer whose sending video section is
// bundle-only, which shows that Chromium takes such a section as live.
func TestSendsMediaChromium(t *testing.T) {
	for file, want := range map[string]bool{
		"chromium-offer-max-bundle-recvonly.sdp":               false,
		"chromium-offer-max-bundle-sendrecv.sdp":               true,
		"chromium-offer-max-bundle-second-video-sendrecv.sdp":  true,
		"chromium-offer-max-bundle-recvonly-stopped-video.sdp": false,
		"chromium-answer-max-bundle-recvonly.sdp":              false,
		"chromium-answer-max-bundle-sendrecv.sdp":              true,
		"chromium-offer-bundle-only-from-chromium.sdp":         true,
		"chromium-answer-to-bundle-only-offer.sdp":             false,
	} {
		b, err := os.ReadFile(filepath.Join("testdata", "sdp", file))
		if err != nil {
			t.Fatal(err)
		}
		if got := SendsMedia(string(b)); got != want {
			t.Errorf("%s: SendsMedia = %v, want %v", file, got, want)
		}
	}
	// Chromium answered the bundle-only video section with port 9 and
	// recvonly: it will receive video on it.
	b, err := os.ReadFile(filepath.Join("testdata", "sdp", "chromium-answer-to-bundle-only-offer.sdp"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "m=video 9 ") || !strings.Contains(string(b), "a=recvonly") {
		t.Fatal("Chromium's answer does not take the bundle-only video section as live")
	}
}
