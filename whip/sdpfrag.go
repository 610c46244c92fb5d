package whip

// SDP helpers: checking offers, reading the negotiated codecs from an
// answer, and the trickle-ice-sdpfrag bodies of PATCH (RFC 8840, as
// RFC 9725 section 4.3 uses them).

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/videochat/videochat/signal/proto"
)

// checkOffer parses an offer and refuses one that is not SDP, has no live
// audio or video section, or (publish) sends nothing.
func checkOffer(offer string, publish bool) *httpError {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offer); err != nil {
		return errorf(http.StatusBadRequest, codeBadSDP, "the offer is not valid SDP")
	}
	media := 0
	for _, md := range sd.MediaDescriptions {
		k := md.MediaName.Media
		if (k == "audio" || k == "video") && md.MediaName.Port.Value != 0 {
			media++
		}
	}
	if media == 0 {
		return errorf(http.StatusBadRequest, codeNoMedia, "the offer has no audio or video section")
	}
	if publish && !proto.SendsMedia(offer) {
		return errorf(http.StatusBadRequest, codeNoMedia, "the offer sends no audio or video (a WHIP publisher offers sendonly sections)")
	}
	return nil
}

// ridsOffered counts the simulcast streams (a=rid:<id> send) that an
// offer's first live section of kind sends: 0 or 1 means no simulcast.
func ridsOffered(offer string, kind webrtc.RTPCodecType) int {
	var sd sdp.SessionDescription
	if sd.UnmarshalString(offer) != nil {
		return 0
	}
	for _, md := range sd.MediaDescriptions {
		if webrtc.NewRTPCodecType(md.MediaName.Media) != kind || md.MediaName.Port.Value == 0 {
			continue
		}
		n := 0
		for _, a := range md.Attributes {
			if f := strings.Fields(a.Value); a.Key == "rid" && len(f) >= 2 && f[1] == "send" {
				n++
			}
		}
		return n
	}
	return 0
}

// answerCodecs reads from our answer the codec chosen for each live audio
// and video section (the first payload type of its m= line; after
// pinCodecs the only one). A kind whose sections were all rejected is
// missing from the map.
func answerCodecs(answer string) map[webrtc.RTPCodecType]webrtc.RTPCodecCapability {
	out := map[webrtc.RTPCodecType]webrtc.RTPCodecCapability{}
	for _, c := range chosenCodecs(answer) {
		if _, seen := out[c.kind]; !seen {
			out[c.kind] = c.codecs[0].RTPCodecCapability
		}
	}
	return out
}

// chosen is the codec an answer's live section chose, with its RTX.
type chosen struct {
	mid    string
	kind   webrtc.RTPCodecType
	codecs []webrtc.RTPCodecParameters // the codec, then its RTX if any
}

// chosenCodecs lists, per live audio or video section of an answer, the
// first payload type of its m= line and the RTX that repairs it.
func chosenCodecs(answer string) []chosen {
	var sd sdp.SessionDescription
	if sd.UnmarshalString(answer) != nil {
		return nil
	}
	var out []chosen
	for _, md := range sd.MediaDescriptions {
		kind := webrtc.NewRTPCodecType(md.MediaName.Media)
		if kind == 0 || md.MediaName.Port.Value == 0 || len(md.MediaName.Formats) == 0 {
			continue
		}
		if _, ok := md.Attribute("inactive"); ok {
			continue
		}
		mid, _ := md.Attribute("mid")
		var ch chosen
		for i, f := range md.MediaName.Formats {
			pt, err := strconv.ParseUint(f, 10, 7)
			if err != nil {
				continue
			}
			c, err := sd.GetCodecForPayloadType(uint8(pt))
			if err != nil {
				continue
			}
			isRTX := strings.EqualFold(c.Name, "rtx")
			if i == 0 && !isRTX {
				ch = chosen{mid: mid, kind: kind, codecs: []webrtc.RTPCodecParameters{codecParams(kind, c)}}
				continue
			}
			if len(ch.codecs) > 0 && isRTX && c.Fmtp == fmt.Sprintf("apt=%d", ch.codecs[0].PayloadType) {
				ch.codecs = append(ch.codecs, codecParams(kind, c))
			}
		}
		if len(ch.codecs) > 0 {
			out = append(out, ch)
		}
	}
	return out
}

func codecParams(kind webrtc.RTPCodecType, c sdp.Codec) webrtc.RTPCodecParameters {
	p := webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType:    kind.String() + "/" + c.Name,
			ClockRate:   c.ClockRate,
			SDPFmtpLine: c.Fmtp,
		},
		PayloadType: webrtc.PayloadType(c.PayloadType),
	}
	if c.EncodingParameters != "" {
		if ch, err := strconv.ParseUint(c.EncodingParameters, 10, 16); err == nil {
			p.Channels = uint16(ch)
		}
	}
	for _, fb := range c.RTCPFeedback {
		typ, param, _ := strings.Cut(fb, " ")
		p.RTCPFeedback = append(p.RTCPFeedback, webrtc.RTCPFeedback{Type: typ, Parameter: param})
	}
	return p
}

// sdpFrag is a parsed application/trickle-ice-sdpfrag body.
type sdpFrag struct {
	ufrag, pwd string
	// cands are the candidate lines without "a=", each with the mid of
	// the section it came in ("" before any a=mid).
	cands []fragCandidate
}

type fragCandidate struct {
	mid, line string
}

// parseFrag reads a trickle-ice-sdpfrag body. It refuses anything that is
// not made of SDP attribute and media lines.
func parseFrag(body string) (sdpFrag, *httpError) {
	var f sdpFrag
	mid := ""
	for line := range strings.Lines(body) {
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
		case strings.HasPrefix(line, "a=ice-ufrag:"):
			f.ufrag = strings.TrimPrefix(line, "a=ice-ufrag:")
		case strings.HasPrefix(line, "a=ice-pwd:"):
			f.pwd = strings.TrimPrefix(line, "a=ice-pwd:")
		case strings.HasPrefix(line, "a=mid:"):
			mid = strings.TrimPrefix(line, "a=mid:")
		case strings.HasPrefix(line, "a=candidate:"):
			f.cands = append(f.cands, fragCandidate{mid: mid, line: unbracket(line[2:])})
		case strings.HasPrefix(line, "a=rtpmap:"), strings.HasPrefix(line, "a=fmtp:"), strings.HasPrefix(line, "a=rid:"),
			strings.HasPrefix(line, "a=simulcast:"), strings.HasPrefix(line, "a=extmap:"):
			// Media description, not ICE: an attempt to renegotiate.
			return f, errorf(http.StatusBadRequest, codeRenegotiation, "a trickle-ice-sdpfrag carries ICE only; a session's codecs and streams are fixed by its first offer (DELETE it and POST a new offer)")
		case strings.HasPrefix(line, "m="), strings.HasPrefix(line, "a="), strings.HasPrefix(line, "c="):
			// m= separates sections; other attributes (end-of-candidates,
			// ice-options, group) carry nothing we act on.
		default:
			return f, errorf(http.StatusBadRequest, codeBadSDP, "the body is not a trickle-ice-sdpfrag")
		}
	}
	return f, nil
}

// unbracket removes brackets around an IPv6 connection address
// ("[fd00::2]"), which some clients (@eyevinn/whip-web-client in Chromium)
// put in candidate lines though RFC 8839 has none.
func unbracket(cand string) string {
	f := strings.Fields(cand)
	if len(f) > 4 && strings.HasPrefix(f[4], "[") && strings.HasSuffix(f[4], "]") {
		f[4] = f[4][1 : len(f[4])-1]
		return strings.Join(f, " ")
	}
	return cand
}

// iceCredentials returns the ICE ufrag and pwd of an SDP (session level or
// the first section that has them).
func iceCredentials(s string) (ufrag, pwd string) {
	for line := range strings.Lines(s) {
		line = strings.TrimRight(line, "\r\n")
		if v, ok := strings.CutPrefix(line, "a=ice-ufrag:"); ok && ufrag == "" {
			ufrag = v
		}
		if v, ok := strings.CutPrefix(line, "a=ice-pwd:"); ok && pwd == "" {
			pwd = v
		}
	}
	return ufrag, pwd
}

// withCredentials returns s with its ICE credentials replaced and its
// candidates and end-of-candidates lines removed: the remote description
// after an ICE restart, before new candidates arrive.
func withCredentials(s, ufrag, pwd string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		t := strings.TrimRight(line, "\r\n")
		switch {
		case strings.HasPrefix(t, "a=ice-ufrag:"):
			b.WriteString("a=ice-ufrag:" + ufrag + "\r\n")
		case strings.HasPrefix(t, "a=ice-pwd:"):
			b.WriteString("a=ice-pwd:" + pwd + "\r\n")
		case strings.HasPrefix(t, "a=candidate:"), t == "a=end-of-candidates":
		default:
			b.WriteString(t + "\r\n")
		}
	}
	return b.String()
}

// localFrag builds the trickle-ice-sdpfrag that answers an ICE restart from
// our new local description: credentials, then each section's m= line,
// mid and candidates.
func localFrag(local string) string {
	ufrag, pwd := iceCredentials(local)
	var b strings.Builder
	b.WriteString("a=ice-ufrag:" + ufrag + "\r\n")
	b.WriteString("a=ice-pwd:" + pwd + "\r\n")
	for line := range strings.Lines(local) {
		t := strings.TrimRight(line, "\r\n")
		switch {
		case strings.HasPrefix(t, "m="), strings.HasPrefix(t, "a=mid:"), strings.HasPrefix(t, "a=candidate:"), t == "a=end-of-candidates":
			b.WriteString(t + "\r\n")
		}
	}
	return b.String()
}
