package capture

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// oggReader parses the first logical stream of an Ogg stream as Opus
// packets. It splits pages into packets itself: pion's oggreader returns
// whole pages, and encoders such as ffmpeg put several packets in a page.
// It is shared by the file source (which loops) and the stream source.
type oggReader struct {
	r       *bufio.Reader
	serial  uint32
	packets [][]byte // packets of the current page not yet returned
	partial []byte   // packet continued on the next page
	samples int64    // 48 kHz samples returned so far
}

// newOggReader reads the OpusHead and OpusTags packets.
func newOggReader(r *bufio.Reader) (*oggReader, error) {
	s := &oggReader{r: r}
	head, err := s.packet(true)
	if err != nil {
		return nil, fmt.Errorf("reading header: %w", err)
	}
	if !bytes.HasPrefix(head, []byte("OpusHead")) {
		return nil, errors.New("not an Ogg Opus file (only Opus can be sent as is)")
	}
	tags, err := s.packet(false)
	if err != nil || !bytes.HasPrefix(tags, []byte("OpusTags")) {
		return nil, errors.New("missing OpusTags")
	}
	return s, nil
}

// next returns the next Opus packet and its pts from the stream's start.
// A clean end of the stream is io.EOF.
func (s *oggReader) next() ([]byte, time.Duration, error) {
	p, err := s.packet(false)
	if err != nil {
		return nil, 0, err
	}
	n, err := opusSamples(p)
	if err != nil {
		return nil, 0, err
	}
	pts := time.Duration(s.samples * int64(time.Second) / audioRate)
	s.samples += int64(n)
	return p, pts, nil
}

// packet returns the next complete packet of the stream; first selects the
// stream by the serial of the first page.
func (s *oggReader) packet(first bool) ([]byte, error) {
	for len(s.packets) == 0 {
		if err := s.readPage(first); err != nil {
			return nil, err
		}
		first = false
	}
	p := s.packets[0]
	s.packets = s.packets[1:]
	return p, nil
}

// readPage reads one page of the selected stream (skipping others) and
// splits it into packets.
func (s *oggReader) readPage(first bool) error {
	var h [27]byte
	if _, err := io.ReadFull(s.r, h[:]); err != nil {
		return err
	}
	if string(h[0:4]) != "OggS" {
		return errors.New("lost page sync (corrupt stream?)")
	}
	serial := binary.LittleEndian.Uint32(h[14:18])
	if first {
		s.serial = serial
	}
	lacing := make([]byte, h[26])
	if _, err := io.ReadFull(s.r, lacing); err != nil {
		return unexpected(err)
	}
	size := 0
	for _, l := range lacing {
		size += int(l)
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(s.r, body); err != nil {
		return unexpected(err)
	}
	if serial != s.serial {
		return nil
	}
	if h[5]&1 == 0 { // not a continuation: drop any unfinished packet
		s.partial = nil
	}
	for _, l := range lacing {
		s.partial = append(s.partial, body[:l]...)
		body = body[l:]
		if l < 255 {
			if len(s.partial) > 0 {
				s.packets = append(s.packets, s.partial)
			}
			s.partial = nil
		}
		if len(s.partial) > oggMaxPacket {
			return errors.New("packet larger than 1 MB (corrupt stream?)")
		}
	}
	return nil
}

// oggMaxPacket bounds a packet continued over pages.
const oggMaxPacket = 1 << 20

// unexpected turns a clean EOF within a unit into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// oggSource plays the Opus stream of an Ogg file as is, looping, paced by
// the duration of each packet (what the granule positions count).
type oggSource struct {
	f    *os.File
	rd   *oggReader
	loop looper
}

// openOgg opens path and checks that its first stream is Opus.
func openOgg(path string) (*oggSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	rd, err := newOggReader(bufio.NewReader(f))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("ogg %s: %w", path, err)
	}
	return &oggSource{f: f, rd: rd}, nil
}

// Next returns the next Opus packet, rewinding at the end of the file.
func (s *oggSource) Next() ([]byte, time.Duration, error) {
	p, pts, err := s.rd.next()
	if isEOF(err) {
		if err := s.loop.wrap(); err != nil {
			return nil, 0, fmt.Errorf("ogg: %w", err)
		}
		if _, err := s.f.Seek(0, io.SeekStart); err != nil {
			return nil, 0, err
		}
		s.rd.r.Reset(s.f)
		if s.rd, err = newOggReader(s.rd.r); err != nil {
			return nil, 0, err
		}
		p, pts, err = s.rd.next()
	}
	if err != nil {
		return nil, 0, fmt.Errorf("ogg: %w", err)
	}
	return p, s.loop.shift(pts), nil
}

func (s *oggSource) Close() error { return s.f.Close() }

// opusSamples returns the duration of an Opus packet in 48 kHz samples
// (RFC 6716, section 3.1).
func opusSamples(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, errors.New("empty Opus packet")
	}
	toc := p[0]
	config := int(toc >> 3)
	var per int // samples per frame
	switch {
	case config < 12:
		per = []int{480, 960, 1920, 2880}[config%4]
	case config < 16:
		per = []int{480, 960}[config%2]
	default:
		per = []int{120, 240, 480, 960}[config%4]
	}
	frames := 1
	switch toc & 3 {
	case 1, 2:
		frames = 2
	case 3:
		if len(p) < 2 {
			return 0, errors.New("truncated Opus packet")
		}
		frames = int(p[1] & 0x3f)
	}
	return per * frames, nil
}
