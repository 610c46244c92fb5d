package capture

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/pion/webrtc/v4"
)

// Payload types registered by RegisterCodecs (the values Chromium uses for
// the same codecs where possible).
const (
	ptVP8     = 96
	ptVP8RTX  = 97
	ptH264    = 106
	ptH264RTX = 107
	ptOpus    = 111
	// More H.264 profiles, for streams sent as they are (--video - with
	// H.264 from another program).
	ptH264Baseline    = 102
	ptH264BaselineRTX = 103
	ptH264Main        = 118
	ptH264MainRTX     = 119
	ptH264High        = 112
	ptH264HighRTX     = 113
)

// H264Fmtp is the fmtp line of the H.264 codec this package produces:
// constrained baseline, level 3.1, non-interleaved packetization.
const H264Fmtp = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"

func videoFeedback() []webrtc.RTCPFeedback {
	return []webrtc.RTCPFeedback{
		{Type: webrtc.TypeRTCPFBGoogREMB},
		{Type: webrtc.TypeRTCPFBTransportCC},
		{Type: webrtc.TypeRTCPFBCCM, Parameter: "fir"},
		{Type: webrtc.TypeRTCPFBNACK},
		{Type: webrtc.TypeRTCPFBNACK, Parameter: "pli"},
	}
}

// Codec capabilities of the tracks, without RTCP feedback.
func capVP8() webrtc.RTPCodecCapability {
	return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
}

func capH264() webrtc.RTPCodecCapability {
	return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: H264Fmtp}
}

// capH264Profile is H.264 with another profile-level-id (level 3.1; the
// level is not negotiated, level-asymmetry-allowed).
func capH264Profile(profileLevelID string) webrtc.RTPCodecCapability {
	return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + profileLevelID}
}

func capOpus() webrtc.RTPCodecCapability {
	return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}
}

// RegisterCodecs registers the codecs the native peer sends and receives:
// VP8 (first, so it is the default), H.264 constrained baseline
// (profile-level-id 42e01f, packetization-mode=1, what the live encoder
// makes), H.264 Baseline, Main and High (42001f, 4d001f, 64001f: H.264
// streams from other programs are sent in their own profile) and Opus, with RTX for the
// video codecs and RTCP feedback (nack, nack pli, ccm fir, goog-remb,
// transport-cc). Register interceptors (webrtc.RegisterDefaultInterceptors)
// after it so that NACK and PLI are negotiated.
func RegisterCodecs(me *webrtc.MediaEngine) error {
	video := []webrtc.RTPCodecParameters{
		{RTPCodecCapability: withFeedback(capVP8()), PayloadType: ptVP8},
		{RTPCodecCapability: rtx(ptVP8), PayloadType: ptVP8RTX},
		{RTPCodecCapability: withFeedback(capH264()), PayloadType: ptH264},
		{RTPCodecCapability: rtx(ptH264), PayloadType: ptH264RTX},
		{RTPCodecCapability: withFeedback(capH264Profile("42001f")), PayloadType: ptH264Baseline},
		{RTPCodecCapability: rtx(ptH264Baseline), PayloadType: ptH264BaselineRTX},
		{RTPCodecCapability: withFeedback(capH264Profile("4d001f")), PayloadType: ptH264Main},
		{RTPCodecCapability: rtx(ptH264Main), PayloadType: ptH264MainRTX},
		{RTPCodecCapability: withFeedback(capH264Profile("64001f")), PayloadType: ptH264High},
		{RTPCodecCapability: rtx(ptH264High), PayloadType: ptH264HighRTX},
	}
	for _, c := range video {
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
			return err
		}
	}
	opus := capOpus()
	opus.RTCPFeedback = []webrtc.RTCPFeedback{{Type: webrtc.TypeRTCPFBTransportCC}}
	return me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: opus, PayloadType: ptOpus}, webrtc.RTPCodecTypeAudio)
}

func withFeedback(c webrtc.RTPCodecCapability) webrtc.RTPCodecCapability {
	c.RTCPFeedback = videoFeedback()
	return c
}

func rtx(apt webrtc.PayloadType) webrtc.RTPCodecCapability {
	return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeRTX, ClockRate: 90000, SDPFmtpLine: "apt=" + strconv.Itoa(int(apt))}
}

// codecKey identifies a codec a track can produce; the lower-case MIME type.
type codecKey string

const (
	keyVP8  codecKey = "video/vp8"
	keyH264 codecKey = "video/h264"
	keyOpus codecKey = "audio/opus"
)

// producible reports which of keys (in the track's own order) can produce
// the negotiated codec p, or "" if none can. h264 is the profile_idc of the
// H.264 the track sends (0: constrained baseline, the live encoder's).
func producible(p webrtc.RTPCodecParameters, keys []codecKey, h264 byte) codecKey {
	mime := codecKey(strings.ToLower(p.MimeType))
	for _, k := range keys {
		if k != mime {
			continue
		}
		if k == keyH264 && !h264Compatible(p.SDPFmtpLine, h264) {
			return ""
		}
		return k
	}
	return ""
}

// h264Compatible reports whether a negotiated H.264 fmtp line accepts a
// stream of profile_idc stream (0 = constrained baseline):
// packetization-mode=1 (FU-A) and a profile whose decoders decode it —
// Baseline < Main < High.
func h264Compatible(fmtp string, stream byte) bool {
	mode1 := false
	decoder := byte(66) // RFC 6184: no profile-level-id means 42000a
	for _, kv := range strings.Split(fmtp, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		switch strings.ToLower(k) {
		case "packetization-mode":
			mode1 = v == "1"
		case "profile-level-id":
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != 3 {
				return false
			}
			decoder = b[0]
		}
	}
	rank := map[byte]int{66: 1, 77: 2, 100: 3}
	if stream == 0 {
		stream = 66
	}
	return mode1 && rank[decoder] > 0 && rank[decoder] >= rank[stream]
}

// chooseCodec returns the first negotiated codec (in the remote's order of
// preference) that a track producing keys (and H.264 of profile h264) can
// send.
func chooseCodec(params []webrtc.RTPCodecParameters, keys []codecKey, h264 byte) (webrtc.RTPCodecParameters, codecKey, bool) {
	for _, p := range params {
		if k := producible(p, keys, h264); k != "" {
			return p, k, true
		}
	}
	return webrtc.RTPCodecParameters{}, "", false
}

// mismatch says, for an error message, what this track can send and what
// the remote accepted instead: the usual cause of a black tile is an
// H.264-only receiver that wants another profile or packetization mode.
func mismatch(params []webrtc.RTPCodecParameters, keys []codecKey, h264 byte) string {
	can := make([]string, len(keys))
	for i, k := range keys {
		can[i] = string(k)
		if k == keyH264 && h264 == 0 {
			can[i] += " (" + H264Fmtp + ")"
		} else if k == keyH264 {
			can[i] += fmt.Sprintf(" (profile_idc %d, packetization-mode=1: encode the stream in a profile the remote accepts, e.g. x264 -profile:v baseline, rpicam-vid --profile baseline)", h264)
		}
	}
	var offered []string
	for _, p := range params {
		o := p.MimeType
		if p.SDPFmtpLine != "" {
			o += " (" + p.SDPFmtpLine + ")"
		}
		offered = append(offered, o)
	}
	if len(offered) == 0 {
		offered = []string{"nothing"}
	}
	return fmt.Sprintf("this side sends %s; the remote accepts %s", strings.Join(can, ", "), strings.Join(offered, ", "))
}
