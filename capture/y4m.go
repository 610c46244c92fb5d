package capture

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// y4mHeader is what this package needs from a YUV4MPEG2 stream header.
type y4mHeader struct {
	Width, Height  int
	FPSNum, FPSDen int
}

func (h y4mHeader) interval() time.Duration {
	return time.Duration(int64(time.Second) * int64(h.FPSDen) / int64(h.FPSNum))
}

// parseY4MHeader parses the stream header line (without its newline).
// Only 8-bit 4:2:0 is accepted.
func parseY4MHeader(line string) (y4mHeader, error) {
	fields := strings.Fields(line)
	if len(fields) == 0 || fields[0] != "YUV4MPEG2" {
		return y4mHeader{}, errors.New("not a YUV4MPEG2 file")
	}
	h := y4mHeader{FPSNum: 30, FPSDen: 1}
	for _, f := range fields[1:] {
		if err := h.parseField(f[0], f[1:]); err != nil {
			return y4mHeader{}, err
		}
	}
	if h.Width <= 0 || h.Height <= 0 || h.Width%2 != 0 || h.Height%2 != 0 {
		return y4mHeader{}, fmt.Errorf("unsupported size %dx%d (must be even)", h.Width, h.Height)
	}
	if h.FPSNum <= 0 || h.FPSDen <= 0 || h.FPSNum/h.FPSDen > 240 {
		return y4mHeader{}, fmt.Errorf("unsupported frame rate %d:%d", h.FPSNum, h.FPSDen)
	}
	return h, nil
}

func (h *y4mHeader) parseField(tag byte, v string) error {
	var err error
	switch tag {
	case 'W':
		h.Width, err = strconv.Atoi(v)
	case 'H':
		h.Height, err = strconv.Atoi(v)
	case 'F':
		num, den, _ := strings.Cut(v, ":")
		if h.FPSNum, err = strconv.Atoi(num); err == nil {
			h.FPSDen, err = strconv.Atoi(den)
		}
	case 'C':
		if !strings.HasPrefix(v, "420") || strings.Contains(v, "p1") {
			return fmt.Errorf("unsupported colour space C%s (need 8-bit 4:2:0)", v)
		}
	case 'I':
		if v != "p" && v != "?" {
			return fmt.Errorf("unsupported interlacing I%s", v)
		}
	}
	if err != nil {
		return fmt.Errorf("bad header field %c%s", tag, v)
	}
	return nil
}

// y4mReader parses a YUV4MPEG2 stream of 8-bit 4:2:0 frames. It is shared
// by the file source (which loops) and the stream source.
type y4mReader struct {
	r   *bufio.Reader
	hdr y4mHeader
	img *image.YCbCr
	n   int64 // bytes of the header line
}

// newY4MReader reads and checks the stream header. r's buffer bounds the
// header line.
func newY4MReader(r *bufio.Reader) (*y4mReader, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, errors.New("header line too long (not a YUV4MPEG2 stream?)")
		}
		return nil, fmt.Errorf("reading header: %w", err)
	}
	hdr, err := parseY4MHeader(strings.TrimSuffix(string(line), "\n"))
	if err != nil {
		return nil, err
	}
	if hdr.Width > 4096 || hdr.Height > 4096 {
		return nil, fmt.Errorf("frame size %dx%d too large (max 4096x4096)", hdr.Width, hdr.Height)
	}
	return &y4mReader{r: r, hdr: hdr, img: newI420(hdr.Width, hdr.Height), n: int64(len(line))}, nil
}

// readFrame reads the next frame into s.img. A clean end of the stream is
// io.EOF.
func (s *y4mReader) readFrame() error {
	line, err := s.r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, io.EOF) && len(line) == 0 {
			return io.EOF
		}
		return fmt.Errorf("y4m: frame header: %w", unexpected(err))
	}
	if !bytes.HasPrefix(line, []byte("FRAME")) {
		return errors.New("y4m: missing FRAME marker (corrupt stream?)")
	}
	for _, plane := range [][]byte{s.img.Y, s.img.Cb, s.img.Cr} {
		if _, err := io.ReadFull(s.r, plane); err != nil {
			return fmt.Errorf("y4m: truncated frame: %w", unexpected(err))
		}
	}
	return nil
}

// y4mSource plays a Y4M file at its own frame rate, looping at the end.
type y4mSource struct {
	f  *os.File
	rd *y4mReader
}

// openY4M opens path and parses its header.
func openY4M(path string) (*y4mSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	rd, err := newY4MReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("y4m %s: %w", path, err)
	}
	return &y4mSource{f: f, rd: rd}, nil
}

func (s *y4mSource) Interval() time.Duration { return s.rd.hdr.interval() }

func (s *y4mSource) Close() error { return s.f.Close() }

// Read returns the next frame, starting over after the last one.
func (s *y4mSource) Read() (*image.YCbCr, error) {
	err := s.rd.readFrame()
	if errors.Is(err, io.EOF) {
		if _, err := s.f.Seek(s.rd.n, io.SeekStart); err != nil {
			return nil, err
		}
		s.rd.r.Reset(s.f)
		err = s.rd.readFrame()
		if errors.Is(err, io.EOF) {
			return nil, errors.New("y4m: no frames")
		}
	}
	if err != nil {
		return nil, err
	}
	return s.rd.img, nil
}

// writeY4M writes frames as a 4:2:0 Y4M stream (test fixtures, tools).
func writeY4M(w io.Writer, fps int, frames []*image.YCbCr) error {
	if len(frames) == 0 {
		return errors.New("y4m: no frames")
	}
	r := frames[0].Rect
	if _, err := fmt.Fprintf(w, "YUV4MPEG2 W%d H%d F%d:1 Ip A1:1 C420jpeg\n", r.Dx(), r.Dy(), fps); err != nil {
		return err
	}
	for _, img := range frames {
		if _, err := io.WriteString(w, "FRAME\n"); err != nil {
			return err
		}
		for _, p := range [][]byte{img.Y, img.Cb, img.Cr} {
			if _, err := w.Write(p); err != nil {
				return err
			}
		}
	}
	return nil
}
