package capture

import (
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

func capOpus() webrtc.RTPCodecCapability {
	return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}
}

// RegisterCodecs registers the codecs the native peer sends and receives:
// VP8 (first, so it is the default), H.264 constrained baseline
// (profile-level-id 42e01f, packetization-mode=1) and Opus, with RTX for the
// video codecs and RTCP feedback (nack, nack pli, ccm fir, goog-remb,
// transport-cc). Register interceptors (webrtc.RegisterDefaultInterceptors)
// after it so that NACK and PLI are negotiated.
func RegisterCodecs(me *webrtc.MediaEngine) error {
	video := []webrtc.RTPCodecParameters{
		{RTPCodecCapability: withFeedback(capVP8()), PayloadType: ptVP8},
		{RTPCodecCapability: rtx(ptVP8), PayloadType: ptVP8RTX},
		{RTPCodecCapability: withFeedback(capH264()), PayloadType: ptH264},
		{RTPCodecCapability: rtx(ptH264), PayloadType: ptH264RTX},
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
// the negotiated codec p, or "" if none can.
func producible(p webrtc.RTPCodecParameters, keys []codecKey) codecKey {
	mime := codecKey(strings.ToLower(p.MimeType))
	for _, k := range keys {
		if k != mime {
			continue
		}
		if k == keyH264 && !h264Compatible(p.SDPFmtpLine) {
			return ""
		}
		return k
	}
	return ""
}

// h264Compatible reports whether a negotiated H.264 fmtp line accepts what
// OpenH264 produces: packetization-mode=1 (FU-A) and a profile that can
// decode constrained baseline.
func h264Compatible(fmtp string) bool {
	mode1 := false
	profileOK := true
	for _, kv := range strings.Split(fmtp, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		switch strings.ToLower(k) {
		case "packetization-mode":
			mode1 = v == "1"
		case "profile-level-id":
			if len(v) >= 2 {
				switch strings.ToLower(v[:2]) {
				case "42", "4d", "64":
				default:
					profileOK = false
				}
			}
		}
	}
	return mode1 && profileOK
}

// chooseCodec returns the first negotiated codec (in the remote's order of
// preference) that a track producing keys can send.
func chooseCodec(params []webrtc.RTPCodecParameters, keys []codecKey) (webrtc.RTPCodecParameters, codecKey, bool) {
	for _, p := range params {
		if k := producible(p, keys); k != "" {
			return p, k, true
		}
	}
	return webrtc.RTPCodecParameters{}, "", false
}

// mismatch says, for an error message, what this track can send and what
// the remote accepted instead: the usual cause of a black tile is an
// H.264-only receiver that wants another profile or packetization mode.
func mismatch(params []webrtc.RTPCodecParameters, keys []codecKey) string {
	can := make([]string, len(keys))
	for i, k := range keys {
		can[i] = string(k)
		if k == keyH264 {
			can[i] += " (" + H264Fmtp + ")"
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
