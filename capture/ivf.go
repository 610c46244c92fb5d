package capture

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"time"
)

const (
	ivfHeaderSize      = 32
	ivfFrameHeaderSize = 12
	ivfMaxFrame        = 8 << 20
)

// ivfSource plays a VP8 IVF file as is, looping.
type ivfSource struct {
	f          *os.File
	r          *bufio.Reader
	rate, unit uint64 // pts * unit / rate seconds
	buf        []byte
	loop       looper
}

// openIVF opens path and checks that it holds VP8.
func openIVF(path string) (*ivfSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	s := &ivfSource{f: f, r: bufio.NewReader(f)}
	if err := s.readHeader(); err != nil {
		f.Close()
		return nil, fmt.Errorf("ivf %s: %w", path, err)
	}
	return s, nil
}

func (s *ivfSource) readHeader() error {
	var h [ivfHeaderSize]byte
	if _, err := io.ReadFull(s.r, h[:]); err != nil {
		return fmt.Errorf("reading header: %w", err)
	}
	if string(h[0:4]) != "DKIF" {
		return fmt.Errorf("not an IVF file")
	}
	if fourcc := string(h[8:12]); fourcc != "VP80" {
		return fmt.Errorf("codec %q, only VP8 (VP80) can be sent as is", fourcc)
	}
	s.rate = uint64(binary.LittleEndian.Uint32(h[16:20]))
	s.unit = uint64(binary.LittleEndian.Uint32(h[20:24]))
	if s.rate == 0 || s.unit == 0 {
		return fmt.Errorf("invalid time base %d/%d", s.unit, s.rate)
	}
	if hs := binary.LittleEndian.Uint16(h[6:8]); hs > ivfHeaderSize {
		if _, err := s.r.Discard(int(hs) - ivfHeaderSize); err != nil {
			return err
		}
	}
	return nil
}

// Next returns the next VP8 frame, rewinding at the end of the file.
func (s *ivfSource) Next() ([]byte, time.Duration, error) {
	data, pts, err := s.readFrame()
	if isEOF(err) {
		if err := s.loop.wrap(); err != nil {
			return nil, 0, fmt.Errorf("ivf: %w", err)
		}
		if _, err := s.f.Seek(0, io.SeekStart); err != nil {
			return nil, 0, err
		}
		s.r.Reset(s.f)
		if err := s.readHeader(); err != nil {
			return nil, 0, err
		}
		data, pts, err = s.readFrame()
	}
	if err != nil {
		return nil, 0, fmt.Errorf("ivf: %w", err)
	}
	return data, s.loop.shift(pts), nil
}

func (s *ivfSource) readFrame() ([]byte, time.Duration, error) {
	var h [ivfFrameHeaderSize]byte
	if _, err := io.ReadFull(s.r, h[:]); err != nil {
		return nil, 0, err
	}
	size := binary.LittleEndian.Uint32(h[0:4])
	if size > ivfMaxFrame {
		return nil, 0, fmt.Errorf("frame of %d bytes", size)
	}
	pts := binary.LittleEndian.Uint64(h[4:12])
	if cap(s.buf) < int(size) {
		s.buf = make([]byte, size)
	}
	s.buf = s.buf[:size]
	if _, err := io.ReadFull(s.r, s.buf); err != nil {
		return nil, 0, err
	}
	sec := time.Duration(pts * s.unit * uint64(time.Second) / s.rate)
	return s.buf, sec, nil
}

func (s *ivfSource) Close() error { return s.f.Close() }
