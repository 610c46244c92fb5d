package capture

import (
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"
)

// TestMismatchNamesBothSides: a failed codec choice says what we send and
// what the remote accepts, with fmtp lines.
func TestMismatchNamesBothSides(t *testing.T) {
	params := []webrtc.RTPCodecParameters{
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "video/H264", SDPFmtpLine: "profile-level-id=640032;packetization-mode=0"}},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "video/VP9"}},
	}
	keys := []codecKey{keyVP8, keyH264}
	if _, _, ok := chooseCodec(params, keys, 0); ok {
		t.Fatal("chooseCodec accepted packetization-mode=0 or VP9")
	}
	msg := mismatch(params, keys, 0)
	for _, want := range []string{"video/vp8", H264Fmtp, "video/H264 (profile-level-id=640032;packetization-mode=0)", "video/VP9"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not name %q", msg, want)
		}
	}
}
