package capture

// H.264 Annex-B byte streams (what `ffmpeg -f h264`, `rpicam-vid -o -` and
// GStreamer's `h264parse ! fdsink` write) are split here into NAL units and
// access units (one coded picture each), to be sent as they are.
//
// Invariants:
//   - Every access unit returned holds exactly one primary picture and starts
//     with a 4-byte start code; NAL units keep their emulation-prevention bytes.
//   - An access unit with an IDR slice always carries an SPS and a PPS: the
//     latest ones seen are inserted before the IDR when the stream did not
//     repeat them, so a receiver that joins late can decode from there.
//   - The stream has no timestamps; the caller times access units by arrival.
//   - An access unit is complete when the first NAL unit of the next one has
//     arrived, so the source is one frame late.
//   - Bad input ends with an error naming the problem, never a panic; no unit
//     grows beyond annexBMaxNAL bytes.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// NAL unit types (ITU-T H.264 table 7-1) this package looks at.
const (
	nalSlice     = 1
	nalIDR       = 5
	nalSEI       = 6
	nalSPS       = 7
	nalPPS       = 8
	nalAUD       = 9
	nalEndSeq    = 10
	nalEndStrm   = 11
	nalFiller    = 12
	annexBMaxNAL = 8 << 20
)

var startCode4 = []byte{0, 0, 0, 1}

// nalScanner splits an Annex-B byte stream into NAL units.
type nalScanner struct {
	r      io.Reader
	buf    []byte // read, not yet returned; starts at a NAL unit's first byte once synced
	synced bool
	eof    error // the reader's final error, once seen
	chunk  []byte
}

func newNALScanner(r io.Reader) *nalScanner {
	return &nalScanner{r: r, chunk: make([]byte, 64<<10)}
}

// fill reads once more from the reader. It returns false at the end.
func (s *nalScanner) fill() bool {
	if s.eof != nil {
		return false
	}
	n, err := s.r.Read(s.chunk)
	s.buf = append(s.buf, s.chunk[:n]...)
	if err != nil {
		s.eof = err
	}
	return true
}

// sync skips to the first byte after the stream's first start code.
func (s *nalScanner) sync() error {
	for {
		if i := bytes.Index(s.buf, startCode4[1:]); i >= 0 {
			if bytes.ContainsFunc(s.buf[:i], func(r rune) bool { return r != 0 }) {
				return errors.New("data before the first start code")
			}
			s.buf = s.buf[i+3:]
			s.synced = true
			return nil
		}
		if len(s.buf) > 64 {
			return errors.New("no start code")
		}
		if !s.fill() {
			if bytes.ContainsFunc(s.buf, func(r rune) bool { return r != 0 }) {
				return errors.New("no start code")
			}
			return s.endErr()
		}
	}
}

// endErr is the error at the end of the input: io.EOF for a clean end.
func (s *nalScanner) endErr() error {
	if s.eof == nil {
		return io.EOF
	}
	return s.eof
}

// next returns the next NAL unit, without its start code and trailing
// zero bytes. The slice is the caller's. At the end of the stream it
// returns io.EOF (or the reader's error).
func (s *nalScanner) next() ([]byte, error) {
	if !s.synced {
		if err := s.sync(); err != nil {
			return nil, err
		}
	}
	from := 0
	for {
		if i := bytes.Index(s.buf[from:], startCode4[1:]); i >= 0 {
			end := from + i
			nal := bytes.TrimRight(s.buf[:end], "\x00")
			out := bytes.Clone(nal)
			s.buf = s.buf[end+3:]
			if len(out) == 0 {
				from = 0
				continue // empty unit (repeated start codes)
			}
			return out, nil
		}
		from = max(0, len(s.buf)-2)
		if len(s.buf) > annexBMaxNAL {
			return nil, fmt.Errorf("NAL unit larger than %d MB", annexBMaxNAL>>20)
		}
		if !s.fill() {
			nal := bytes.TrimRight(s.buf, "\x00")
			s.buf = nil
			if len(nal) > 0 {
				return bytes.Clone(nal), nil
			}
			return nil, s.endErr()
		}
	}
}

// h264Profile is what a stream's SPS says about its profile.
type h264Profile struct {
	idc, constraints, level byte
}

func (p h264Profile) String() string {
	name := map[byte]string{66: "Baseline", 77: "Main", 88: "Extended", 100: "High"}[p.idc]
	if p.idc == 66 && p.constraints&0x40 != 0 {
		name = "Constrained Baseline"
	}
	if name == "" {
		name = fmt.Sprintf("profile_idc %d", p.idc)
	}
	return fmt.Sprintf("%s, level %d.%d", name, p.level/10, p.level%10)
}

// parseSPSProfile reads the profile fields of an SPS NAL unit.
func parseSPSProfile(sps []byte) (h264Profile, error) {
	if len(sps) < 4 {
		return h264Profile{}, errors.New("SPS too short")
	}
	p := h264Profile{idc: sps[1], constraints: sps[2], level: sps[3]}
	switch p.idc {
	case 66, 77, 100:
		return p, nil
	}
	return p, fmt.Errorf("H.264 %s cannot be sent: browsers decode Baseline, Main and High (8-bit 4:2:0)", p)
}

// checkNALHeader rejects bytes that cannot be an H.264 NAL unit header.
func checkNALHeader(b byte) error {
	if b&0x80 != 0 {
		return fmt.Errorf("NAL header %#02x has the forbidden bit set", b)
	}
	switch t := b & 0x1f; {
	case t == 0:
		return errors.New("NAL unit type 0 (is this H.265/HEVC? only H.264 can be sent)")
	case t >= 24:
		return fmt.Errorf("NAL unit type %d is not used in H.264 byte streams", t)
	}
	return nil
}

// isVCL reports a coded slice (the picture data).
func isVCL(t byte) bool { return t >= 1 && t <= 5 }

// startsPicture reports whether a slice NAL unit is the first of a picture:
// its first_mb_in_slice, the first Exp-Golomb code of the slice header, is 0.
// (Arbitrary slice order, a Baseline option encoders do not use, would
// defeat this.)
func startsPicture(nal []byte) bool { return len(nal) > 1 && nal[1]&0x80 != 0 }

// sliceIsB reports whether a slice NAL unit is a B slice.
func sliceIsB(nal []byte) bool {
	br := bitReader{b: nal[1:]}
	if _, ok := br.ue(); !ok { // first_mb_in_slice
		return false
	}
	st, ok := br.ue()
	return ok && st%5 == 1
}

// bitReader reads Exp-Golomb codes from the start of a slice header.
type bitReader struct {
	b   []byte
	pos int // in bits
}

func (r *bitReader) bit() (uint, bool) {
	if r.pos >= 8*len(r.b) {
		return 0, false
	}
	v := uint(r.b[r.pos/8]>>(7-r.pos%8)) & 1
	r.pos++
	return v, true
}

func (r *bitReader) ue() (uint, bool) {
	zeros := 0
	for {
		b, ok := r.bit()
		if !ok || zeros > 31 {
			return 0, false
		}
		if b == 1 {
			break
		}
		zeros++
	}
	v := uint(1)
	for range zeros {
		b, ok := r.bit()
		if !ok {
			return 0, false
		}
		v = v<<1 | b
	}
	return v - 1, true
}

// accessUnit is one coded picture in Annex-B form.
type accessUnit struct {
	data []byte // NAL units, each after a 4-byte start code
	key  bool   // has an IDR slice
	b    bool   // has a B slice
}

// annexBReader groups NAL units into access units.
type annexBReader struct {
	sc       *nalScanner
	pending  []byte // first NAL unit of the next access unit
	sps, pps []byte // latest parameter sets
	profile  h264Profile
}

// newAnnexBReader reads up to the stream's first SPS (skipping what comes
// before it: a socket may join a stream between two keyframes) and checks
// its profile.
func newAnnexBReader(r io.Reader) (*annexBReader, error) {
	a := &annexBReader{sc: newNALScanner(r)}
	for skipped := 0; ; skipped++ {
		nal, err := a.sc.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, errors.New("the stream ended before its first SPS")
			}
			return nil, err
		}
		if err := checkNALHeader(nal[0]); err != nil {
			return nil, err
		}
		if nal[0]&0x1f != nalSPS {
			if skipped > 1000 {
				return nil, errors.New("no SPS in the first 1000 NAL units (for rpicam-vid use --inline)")
			}
			continue
		}
		if a.profile, err = parseSPSProfile(nal); err != nil {
			return nil, err
		}
		a.pending = nal
		return a, nil
	}
}

// next returns the next complete access unit; io.EOF at the end of the
// stream. A stream cut inside a NAL unit yields that unit as it is (the
// receiver's decoder copes with it, as with a lost packet).
func (a *annexBReader) next() (accessUnit, error) {
	var au accessUnit
	var nals [][]byte
	haveVCL, haveSPS, havePPS := false, false, false
	for {
		nal := a.pending
		a.pending = nil
		if nal == nil {
			var err error
			if nal, err = a.sc.next(); err != nil {
				if errors.Is(err, io.EOF) && haveVCL {
					break
				}
				return accessUnit{}, err
			}
		}
		if err := checkNALHeader(nal[0]); err != nil {
			return accessUnit{}, err
		}
		t := nal[0] & 0x1f
		newAU := false
		switch {
		case isVCL(t):
			newAU = haveVCL && startsPicture(nal)
		case t == nalAUD, t == nalSEI, t == nalSPS, t == nalPPS, t >= 14 && t <= 18:
			newAU = haveVCL
		}
		if newAU {
			a.pending = nal
			break
		}
		switch t {
		case nalSPS:
			if _, err := parseSPSProfile(nal); err != nil {
				return accessUnit{}, err
			}
			a.sps, haveSPS = nal, true
		case nalPPS:
			a.pps, havePPS = nal, true
		case nalIDR:
			if !haveSPS && a.sps != nil {
				nals = append(nals, a.sps)
				haveSPS = true
			}
			if !havePPS && a.pps != nil {
				nals = append(nals, a.pps)
				havePPS = true
			}
			au.key = true
		case nalSlice:
			au.b = au.b || sliceIsB(nal)
		}
		haveVCL = haveVCL || isVCL(t)
		nals = append(nals, nal)
	}
	n := 0
	for _, nal := range nals {
		n += 4 + len(nal)
	}
	au.data = make([]byte, 0, n)
	for _, nal := range nals {
		au.data = append(au.data, startCode4...)
		au.data = append(au.data, nal...)
	}
	return au, nil
}
