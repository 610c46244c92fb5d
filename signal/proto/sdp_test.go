package proto

import (
	"strings"
	"testing"
)

func TestSendsMedia(t *testing.T) {
	sdp := func(lines ...string) string {
		return "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" + strings.Join(lines, "\r\n") + "\r\n"
	}
	for _, tt := range []struct {
		name string
		sdp  string
		want bool
	}{
		{"no media", sdp(), false},
		{"data channel only", sdp("m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "a=mid:0"), false},
		{"recvonly audio and video", sdp("m=audio 9 UDP/TLS/RTP/SAVPF 111", "a=recvonly", "m=video 9 UDP/TLS/RTP/SAVPF 96", "a=recvonly"), false},
		{"inactive video", sdp("m=video 9 UDP/TLS/RTP/SAVPF 96", "a=inactive"), false},
		{"sendrecv video", sdp("m=audio 9 UDP/TLS/RTP/SAVPF 111", "a=recvonly", "m=video 9 UDP/TLS/RTP/SAVPF 96", "a=sendrecv"), true},
		{"sendonly audio first", sdp("m=audio 9 UDP/TLS/RTP/SAVPF 111", "a=sendonly", "m=video 9 UDP/TLS/RTP/SAVPF 96", "a=recvonly"), true},
		{"no direction: sendrecv by default", sdp("m=video 9 UDP/TLS/RTP/SAVPF 96", "a=mid:0"), true},
		{"session-level recvonly", sdp("a=recvonly", "m=video 9 UDP/TLS/RTP/SAVPF 96"), false},
		{"session-level recvonly, section sendonly", sdp("a=recvonly", "m=video 9 UDP/TLS/RTP/SAVPF 96", "a=sendonly"), true},
		{"rejected section", sdp("m=video 0 UDP/TLS/RTP/SAVPF 96", "a=sendrecv"), false},
		{"LF line ends", strings.ReplaceAll(sdp("m=video 9 UDP/TLS/RTP/SAVPF 96", "a=sendonly"), "\r\n", "\n"), true},
		{"direction on the data section does not count", sdp("m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "a=sendrecv", "m=audio 9 UDP/TLS/RTP/SAVPF 111", "a=recvonly"), false},
	} {
		if got := SendsMedia(tt.sdp); got != tt.want {
			t.Errorf("%s: SendsMedia = %v, want %v", tt.name, got, tt.want)
		}
	}
}
