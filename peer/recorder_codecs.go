package peer

import (
	"bytes"
	"encoding/binary"
	"errors"
)

// vp8KeyFrame reports whether a VP8 frame is a key frame (RFC 6386 9.1:
// bit 0 of the frame tag is 0 for key frames).
func vp8KeyFrame(frame []byte) bool {
	return len(frame) > 0 && frame[0]&0x01 == 0
}

// vp8Size reads the picture size from a VP8 key frame header.
func vp8Size(frame []byte) (w, h int, ok bool) {
	if len(frame) < 10 || !vp8KeyFrame(frame) || frame[3] != 0x9d || frame[4] != 0x01 || frame[5] != 0x2a {
		return 0, 0, false
	}
	w = int(binary.LittleEndian.Uint16(frame[6:8]) & 0x3fff)
	h = int(binary.LittleEndian.Uint16(frame[8:10]) & 0x3fff)
	return w, h, w > 0 && h > 0
}

// opusHead builds the Matroska A_OPUS CodecPrivate (RFC 7845 5.1).
func opusHead(channels byte, rate uint32) []byte {
	b := make([]byte, 19)
	copy(b, "OpusHead")
	b[8] = 1 // version
	b[9] = channels
	binary.LittleEndian.PutUint16(b[10:12], 0) // pre-skip
	binary.LittleEndian.PutUint32(b[12:16], rate)
	// output gain 0, mapping family 0
	return b
}

// H.264 NAL unit types used here.
const (
	nalIDR = 5
	nalSPS = 7
	nalPPS = 8
	nalAUD = 9
)

// h264Params remembers the latest SPS and PPS seen in the stream.
type h264Params struct {
	sps, pps []byte
}

// frame converts an Annex-B access unit to the length-prefixed form
// Matroska stores, records SPS/PPS and reports whether it holds an IDR.
func (p *h264Params) frame(annexB []byte) ([]byte, bool) {
	var out []byte
	key := false
	for _, nal := range splitAnnexB(annexB) {
		if len(nal) == 0 {
			continue
		}
		switch nal[0] & 0x1f {
		case nalIDR:
			key = true
		case nalSPS:
			p.sps = append([]byte(nil), nal...)
		case nalPPS:
			p.pps = append([]byte(nil), nal...)
		case nalAUD:
			continue
		}
		out = binary.BigEndian.AppendUint32(out, uint32(len(nal)))
		out = append(out, nal...)
	}
	return out, key
}

// config returns the picture size and the avcC record once SPS and PPS
// are known.
func (p *h264Params) config() (w, h int, avcc []byte, ok bool) {
	if len(p.sps) < 4 || len(p.pps) == 0 {
		return 0, 0, nil, false
	}
	w, h, err := spsSize(p.sps)
	if err != nil {
		return 0, 0, nil, false
	}
	avcc = []byte{1, p.sps[1], p.sps[2], p.sps[3], 0xff, 0xe1}
	avcc = binary.BigEndian.AppendUint16(avcc, uint16(len(p.sps)))
	avcc = append(avcc, p.sps...)
	avcc = append(avcc, 1)
	avcc = binary.BigEndian.AppendUint16(avcc, uint16(len(p.pps)))
	avcc = append(avcc, p.pps...)
	return w, h, avcc, true
}

// splitAnnexB splits a byte stream at 3- and 4-byte start codes.
func splitAnnexB(b []byte) [][]byte {
	var nals [][]byte
	start := -1
	for i := 0; i+2 < len(b); {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				nals = append(nals, bytes.TrimRight(b[start:i], "\x00"))
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start >= 0 {
		nals = append(nals, b[start:])
	} else if len(b) > 0 {
		nals = append(nals, b) // no start code: a single NAL
	}
	return nals
}

// bitReader reads an H.264 RBSP bit by bit.
type bitReader struct {
	b   []byte
	pos int
	err error
}

var errShortSPS = errors.New("sps: truncated")

func (r *bitReader) bit() uint {
	if r.pos >= len(r.b)*8 {
		r.err = errShortSPS
		return 0
	}
	v := (r.b[r.pos/8] >> (7 - r.pos%8)) & 1
	r.pos++
	return uint(v)
}

func (r *bitReader) bits(n int) uint {
	var v uint
	for range n {
		v = v<<1 | r.bit()
	}
	return v
}

// ue reads an unsigned Exp-Golomb code.
func (r *bitReader) ue() uint {
	zeros := 0
	for r.bit() == 0 && r.err == nil && zeros < 32 {
		zeros++
	}
	return (1<<zeros - 1) + r.bits(zeros)
}

func (r *bitReader) se() int {
	v := r.ue()
	if v&1 == 1 {
		return int(v+1) / 2
	}
	return -int(v / 2)
}

// unescapeRBSP removes emulation-prevention bytes (00 00 03 → 00 00).
func unescapeRBSP(b []byte) []byte {
	out := make([]byte, 0, len(b))
	zeros := 0
	for _, c := range b {
		if zeros >= 2 && c == 3 {
			zeros = 0
			continue
		}
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
		out = append(out, c)
	}
	return out
}

// spsSize parses a sequence parameter set NAL (header byte included) far
// enough to compute the cropped picture size (ITU-T H.264 7.3.2.1.1).
func spsSize(nal []byte) (w, h int, err error) {
	r := &bitReader{b: unescapeRBSP(nal[1:])}
	profile := r.bits(8)
	r.bits(16) // constraint flags, level
	r.ue()     // seq_parameter_set_id
	chroma := uint(1)
	switch profile {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		chroma = r.ue()
		if chroma == 3 {
			r.bit() // separate_colour_plane_flag
		}
		r.ue()  // bit_depth_luma_minus8
		r.ue()  // bit_depth_chroma_minus8
		r.bit() // qpprime_y_zero_transform_bypass_flag
		if r.bit() == 1 {
			skipScalingLists(r, chroma)
		}
	}
	r.ue()          // log2_max_frame_num_minus4
	switch r.ue() { // pic_order_cnt_type
	case 0:
		r.ue()
	case 1:
		r.bit()
		r.se()
		r.se()
		for n := r.ue(); n > 0 && r.err == nil; n-- {
			r.se()
		}
	}
	r.ue()  // max_num_ref_frames
	r.bit() // gaps_in_frame_num_value_allowed_flag
	wMbs := int(r.ue()) + 1
	hMaps := int(r.ue()) + 1
	frameMbsOnly := int(r.bit())
	if frameMbsOnly == 0 {
		r.bit() // mb_adaptive_frame_field_flag
	}
	r.bit() // direct_8x8_inference_flag
	var cl, cr, ct, cb int
	if r.bit() == 1 {
		cl, cr, ct, cb = int(r.ue()), int(r.ue()), int(r.ue()), int(r.ue())
	}
	if r.err != nil {
		return 0, 0, r.err
	}
	unitX, unitY := 1, 2-frameMbsOnly
	switch chroma {
	case 1:
		unitX, unitY = 2, 2*(2-frameMbsOnly)
	case 2:
		unitX = 2
	}
	w = wMbs*16 - (cl+cr)*unitX
	h = (2-frameMbsOnly)*hMaps*16 - (ct+cb)*unitY
	if w <= 0 || h <= 0 {
		return 0, 0, errors.New("sps: bad size")
	}
	return w, h, nil
}

func skipScalingLists(r *bitReader, chroma uint) {
	n := 8
	if chroma == 3 {
		n = 12
	}
	for i := 0; i < n; i++ {
		if r.bit() == 0 {
			continue
		}
		size := 16
		if i >= 6 {
			size = 64
		}
		last, next := 8, 8
		for j := 0; j < size; j++ {
			if next != 0 {
				next = (last + r.se() + 256) % 256
			}
			if next != 0 {
				last = next
			}
		}
	}
}
