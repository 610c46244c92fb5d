package peer

import (
	"strings"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Sending audio levels (RFC 6464): receivers, browsers included, learn
// who is talking from a one-byte RTP header extension instead of decoding.
// The level comes from our audio track (capture measures each 20 ms of raw
// audio before encoding); this interceptor writes it into every outgoing
// audio packet of a stream that negotiated the extension. Registered with
// RegisterHeaderExtensions, the extension is offered and accepted.

// AudioLeveler is implemented by audio tracks that know their current
// level: -dBov, 0 loudest … 127 silence; ok false when unknown.
type AudioLeveler interface {
	AudioLevel() (level uint8, ok bool)
}

// voiceLevel: a level at or louder than this (-dBov) sets the V bit.
const voiceLevel = 50

// AudioLevelInterceptor returns an interceptor factory that writes the
// level of the first track in tracks implementing AudioLeveler into our
// audio packets; nil when no track does.
func AudioLevelInterceptor(tracks []webrtc.TrackLocal) interceptor.Factory {
	for _, t := range tracks {
		if l, ok := t.(AudioLeveler); ok && t.Kind() == webrtc.RTPCodecTypeAudio {
			return levelFactory{src: l}
		}
	}
	return nil
}

type levelFactory struct{ src AudioLeveler }

func (f levelFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &levelInterceptor{src: f.src}, nil
}

type levelInterceptor struct {
	interceptor.NoOp
	src AudioLeveler
}

// BindLocalStream wraps the writer of an audio stream that negotiated the
// extension; other streams pass untouched.
func (l *levelInterceptor) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	if !strings.HasPrefix(strings.ToLower(info.MimeType), "audio/") {
		return w
	}
	id := 0
	for _, e := range info.RTPHeaderExtensions {
		if e.URI == AudioLevelURI {
			id = e.ID
		}
	}
	if id <= 0 || id > 14 {
		return w
	}
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		level, ok := l.src.AudioLevel()
		if !ok {
			return w.Write(h, payload, a)
		}
		b := level & 0x7f
		if level <= voiceLevel {
			b |= 0x80
		}
		// The header may be shared with other connections' writers: copy.
		hh := *h
		hh.Extensions = append([]rtp.Extension(nil), h.Extensions...)
		if err := hh.SetExtension(uint8(id), []byte{b}); err != nil {
			return w.Write(h, payload, a)
		}
		return w.Write(&hh, payload, a)
	})
}
