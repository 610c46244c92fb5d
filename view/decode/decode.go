// Package decode turns encoded video frames (one whole frame per call) into
// I420 images: VP8 with libvpx, H.264 with libavcodec. Both are cgo.
//
// Invariants:
//   - A Decoder is used by one goroutine at a time and must be Closed; Close
//     frees the C state exactly once (later calls are no-ops), so a decoder
//     never outlives its track.
//   - Decode never returns a frame larger than MaxWidth×MaxHeight: larger
//     streams are refused before the codec allocates for them (ErrTooLarge).
//   - Returned images live in Go memory, are owned by the caller and are
//     never written again by the decoder. A picture passed back as reuse
//     (of the stream's size) is written over instead of allocating a new
//     one: the caller hands it back only once nothing reads it any more.
package decode

import (
	"errors"
	"fmt"
	"image"
	"strings"
)

// Limits on a decoded picture: 4096×2304 (a little above 4K UHD).
const (
	MaxWidth  = 4096
	MaxHeight = 2304
)

var (
	// ErrTooLarge: the stream's picture is above MaxWidth×MaxHeight.
	ErrTooLarge = errors.New("decode: picture too large")
	// ErrCorrupt: the codec refused the frame.
	ErrCorrupt = errors.New("decode: corrupt frame")
	// ErrNoPicture: the frame produced no picture (yet); not an error of the
	// stream, e.g. a decoder still waiting for parameter sets.
	ErrNoPicture = errors.New("decode: no picture")
	// ErrUnsupported: no decoder for this codec.
	ErrUnsupported = errors.New("decode: unsupported codec")
	// ErrFormat: the decoder produced a pixel format other than 4:2:0.
	ErrFormat = errors.New("decode: unsupported pixel format")
)

// Decoder decodes one stream.
type Decoder interface {
	// Decode decodes one whole encoded frame. VP8: the VP8 payload; H.264:
	// Annex-B NAL units (start codes). reuse, when not nil, is a picture
	// the caller no longer needs; it is filled and returned when it has the
	// decoded size (else a new picture is made).
	Decode(frame []byte, reuse *image.YCbCr) (*image.YCbCr, error)
	Close()
}

// Codec names accepted by New (lower-case MIME types).
const (
	VP8  = "video/vp8"
	H264 = "video/h264"
)

// Supported reports whether New can make a decoder for mime.
func Supported(mime string) bool {
	switch strings.ToLower(mime) {
	case VP8, H264:
		return true
	}
	return false
}

// New returns a decoder for the MIME type mime ("video/VP8", "video/H264").
func New(mime string) (Decoder, error) {
	switch strings.ToLower(mime) {
	case VP8:
		return newVP8()
	case H264:
		return newH264()
	}
	return nil, fmt.Errorf("%w: %s", ErrUnsupported, mime)
}

// copyI420 copies three planes of a w×h 4:2:0 picture into dst when it is
// a w×h 4:2:0 picture, else into a new image.
func copyI420(dst *image.YCbCr, w, h int, y, u, v []byte, ys, us, vs int) *image.YCbCr {
	img := dst
	if img == nil || img.Rect != image.Rect(0, 0, w, h) || img.SubsampleRatio != image.YCbCrSubsampleRatio420 {
		img = image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	}
	cw, ch := (w+1)/2, (h+1)/2
	for r := 0; r < h; r++ {
		copy(img.Y[r*img.YStride:r*img.YStride+w], y[r*ys:r*ys+w])
	}
	for r := 0; r < ch; r++ {
		copy(img.Cb[r*img.CStride:r*img.CStride+cw], u[r*us:r*us+cw])
		copy(img.Cr[r*img.CStride:r*img.CStride+cw], v[r*vs:r*vs+cw])
	}
	return img
}
