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

// oggSource plays the Opus stream of an Ogg file as is, looping, paced by
// the duration of each packet (what the granule positions count). It splits
// pages into packets itself: pion's oggreader returns whole pages, and
// encoders such as ffmpeg put several packets in a page.
type oggSource struct {
	f       *os.File
	r       *bufio.Reader
	serial  uint32
	packets [][]byte // packets of the current page not yet returned
	partial []byte   // packet continued on the next page
	samples int64    // 48 kHz samples played in this loop
	loop    looper
}

// openOgg opens path and checks that its first stream is Opus.
func openOgg(path string) (*oggSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	s := &oggSource{f: f, r: bufio.NewReader(f)}
	if err := s.readHeaders(); err != nil {
		f.Close()
		return nil, fmt.Errorf("ogg %s: %w", path, err)
	}
	return s, nil
}

// readHeaders reads the OpusHead and OpusTags packets.
func (s *oggSource) readHeaders() error {
	s.packets, s.partial, s.samples, s.serial = nil, nil, 0, 0
	head, err := s.packet(true)
	if err != nil {
		return fmt.Errorf("reading header: %w", err)
	}
	if !bytes.HasPrefix(head, []byte("OpusHead")) {
		return errors.New("not an Ogg Opus file")
	}
	tags, err := s.packet(false)
	if err != nil || !bytes.HasPrefix(tags, []byte("OpusTags")) {
		return errors.New("missing OpusTags")
	}
	return nil
}

// Next returns the next Opus packet, rewinding at the end of the file.
func (s *oggSource) Next() ([]byte, time.Duration, error) {
	p, err := s.packet(false)
	if isEOF(err) {
		if err := s.loop.wrap(); err != nil {
			return nil, 0, fmt.Errorf("ogg: %w", err)
		}
		if _, err := s.f.Seek(0, io.SeekStart); err != nil {
			return nil, 0, err
		}
		s.r.Reset(s.f)
		if err := s.readHeaders(); err != nil {
			return nil, 0, err
		}
		p, err = s.packet(false)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("ogg: %w", err)
	}
	n, err := opusSamples(p)
	if err != nil {
		return nil, 0, fmt.Errorf("ogg: %w", err)
	}
	pts := time.Duration(s.samples * int64(time.Second) / audioRate)
	s.samples += int64(n)
	return p, s.loop.shift(pts), nil
}

// packet returns the next complete packet of the stream; first selects the
// stream by the serial of the first page.
func (s *oggSource) packet(first bool) ([]byte, error) {
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
func (s *oggSource) readPage(first bool) error {
	var h [27]byte
	if _, err := io.ReadFull(s.r, h[:]); err != nil {
		return err
	}
	if string(h[0:4]) != "OggS" {
		return errors.New("lost page sync")
	}
	serial := binary.LittleEndian.Uint32(h[14:18])
	if first {
		s.serial = serial
	}
	lacing := make([]byte, h[26])
	if _, err := io.ReadFull(s.r, lacing); err != nil {
		return err
	}
	size := 0
	for _, l := range lacing {
		size += int(l)
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(s.r, body); err != nil {
		return err
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
	}
	return nil
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
