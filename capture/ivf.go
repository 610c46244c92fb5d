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

// ivfReader parses an IVF stream of VP8 frames. It is shared by the file
// source (which loops) and the stream source (stdin, sockets).
type ivfReader struct {
	r          *bufio.Reader
	rate, unit uint64 // pts * unit / rate seconds
	buf        []byte
}

// newIVFReader reads and checks the file header: VP8 only.
func newIVFReader(r *bufio.Reader) (*ivfReader, error) {
	s := &ivfReader{r: r}
	var h [ivfHeaderSize]byte
	if _, err := io.ReadFull(s.r, h[:]); err != nil {
		return nil, fmt.Errorf("reading header: %w", err)
	}
	if string(h[0:4]) != "DKIF" {
		return nil, fmt.Errorf("not an IVF file")
	}
	if fourcc := string(h[8:12]); fourcc != "VP80" {
		return nil, fmt.Errorf("codec %q, only VP8 (VP80) can be sent as is", fourcc)
	}
	s.rate = uint64(binary.LittleEndian.Uint32(h[16:20]))
	s.unit = uint64(binary.LittleEndian.Uint32(h[20:24]))
	if s.rate == 0 || s.unit == 0 {
		return nil, fmt.Errorf("invalid time base %d/%d", s.unit, s.rate)
	}
	if hs := binary.LittleEndian.Uint16(h[6:8]); hs > ivfHeaderSize {
		if _, err := s.r.Discard(int(hs) - ivfHeaderSize); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// frame returns the next frame (valid until the next call) and its pts. A
// clean end of the stream is io.EOF; a frame cut short is
// io.ErrUnexpectedEOF.
func (s *ivfReader) frame() ([]byte, time.Duration, error) {
	var h [ivfFrameHeaderSize]byte
	if _, err := io.ReadFull(s.r, h[:]); err != nil {
		return nil, 0, err
	}
	size := binary.LittleEndian.Uint32(h[0:4])
	if size > ivfMaxFrame {
		return nil, 0, fmt.Errorf("frame of %d bytes (corrupt stream?)", size)
	}
	pts := binary.LittleEndian.Uint64(h[4:12])
	if cap(s.buf) < int(size) {
		s.buf = make([]byte, size)
	}
	s.buf = s.buf[:size]
	if _, err := io.ReadFull(s.r, s.buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, 0, err
	}
	if pts > 1<<40 { // guards the multiplication below
		return nil, 0, fmt.Errorf("frame timestamp %d out of range", pts)
	}
	sec := time.Duration(pts * s.unit * uint64(time.Second) / s.rate)
	return s.buf, sec, nil
}

// ivfSource plays a VP8 IVF file as is, looping.
type ivfSource struct {
	f    *os.File
	rd   *ivfReader
	loop looper
}

// openIVF opens path and checks that it holds VP8.
func openIVF(path string) (*ivfSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	rd, err := newIVFReader(bufio.NewReader(f))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("ivf %s: %w", path, err)
	}
	return &ivfSource{f: f, rd: rd}, nil
}

// Next returns the next VP8 frame, rewinding at the end of the file.
func (s *ivfSource) Next() ([]byte, time.Duration, error) {
	data, pts, err := s.rd.frame()
	if isEOF(err) {
		if err := s.loop.wrap(); err != nil {
			return nil, 0, fmt.Errorf("ivf: %w", err)
		}
		if _, err := s.f.Seek(0, io.SeekStart); err != nil {
			return nil, 0, err
		}
		buf := s.rd.buf
		s.rd.r.Reset(s.f)
		if s.rd, err = newIVFReader(s.rd.r); err != nil {
			return nil, 0, err
		}
		s.rd.buf = buf
		data, pts, err = s.rd.frame()
	}
	if err != nil {
		return nil, 0, fmt.Errorf("ivf: %w", err)
	}
	return data, s.loop.shift(pts), nil
}

func (s *ivfSource) Close() error { return s.f.Close() }
