package view

// RTP → whole encoded frames, for one track.
//
// Invariants:
//   - Packets are put back in sequence order within a window of
//     reorderWindow packets; a hole older than holeTimeout (or pushed out of
//     the window) is declared lost, never waited for longer.
//   - A frame is handed out only when every packet from its first to its
//     marker (or to the next timestamp) arrived; otherwise it is dropped.
//   - After any loss or drop, frames are dropped until a key frame: a
//     decoder never sees a frame whose references it lacks.
//   - Memory is bounded: at most reorderWindow packets and one frame of at
//     most maxFrameBytes.

import (
	"bytes"
	"strings"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

const (
	reorderWindow = 256
	holeTimeout   = 100 * time.Millisecond
	maxFrameBytes = 4 << 20
)

// encodedFrame is one whole frame ready for its decoder.
type encodedFrame struct {
	mime    string // lower-case MIME type of its codec
	data    []byte
	ts      uint32 // RTP timestamp
	key     bool
	arrival time.Time
}

// depacketizer extracts one codec's payload from RTP packets.
type depacketizer interface {
	// payload returns the packet's share of the frame; head reports
	// whether the packet begins a frame (when the codec can tell).
	payload(p *rtp.Packet) (data []byte, head, headKnown bool, err error)
	isKey(frame []byte) bool
	reset()
}

type vp8Depack struct{}

func (vp8Depack) payload(p *rtp.Packet) ([]byte, bool, bool, error) {
	var d codecs.VP8Packet
	b, err := d.Unmarshal(p.Payload)
	return b, d.S == 1 && d.PID == 0, true, err
}

func (vp8Depack) isKey(f []byte) bool { return len(f) > 0 && f[0]&1 == 0 }
func (vp8Depack) reset()              {}

type h264Depack struct{ d *codecs.H264Packet }

func (h *h264Depack) payload(p *rtp.Packet) ([]byte, bool, bool, error) {
	if h.d == nil {
		h.d = &codecs.H264Packet{}
	}
	b, err := h.d.Unmarshal(p.Payload)
	return b, false, false, err
}

// isKey: the access unit holds an IDR slice (NAL type 5).
func (h *h264Depack) isKey(f []byte) bool {
	for i := 0; i+3 < len(f); {
		j := bytes.Index(f[i:], []byte{0, 0, 1})
		if j < 0 || i+j+3 >= len(f) {
			return false
		}
		i += j + 3
		if f[i]&0x1f == 5 {
			return true
		}
	}
	return false
}

func (h *h264Depack) reset() { h.d = nil }

func newDepacketizer(mime string) depacketizer {
	switch strings.ToLower(mime) {
	case "video/vp8":
		return vp8Depack{}
	case "video/h264":
		return &h264Depack{}
	}
	return nil
}

// assembler is one track's packet-to-frame state. Not safe for concurrent
// use (WriteRTP's goroutine owns it).
type assembler struct {
	mime  string
	dp    depacketizer
	stats *counters

	// reordering
	started bool
	next    uint16 // next sequence number to hand on
	buf     [reorderWindow]*rtp.Packet
	held    int
	holeAt  time.Time // when the current hole was first seen

	// the frame being built
	cur      []byte
	curTS    uint32
	curOpen  bool
	curBroke bool // a packet of it is missing or unusable
	curStart time.Time
	waitKey  bool // drop until a key frame
}

func newAssembler(mime string, stats *counters) *assembler {
	return &assembler{mime: strings.ToLower(mime), dp: newDepacketizer(mime), stats: stats, waitKey: true}
}

// push takes one packet and returns the frames it completes.
func (a *assembler) push(p *rtp.Packet, now time.Time, out []encodedFrame) []encodedFrame {
	if !a.started {
		a.started, a.next = true, p.SequenceNumber
	}
	d := int16(p.SequenceNumber - a.next)
	switch {
	case d < 0:
		a.stats.latePackets.Add(1) // duplicate or too late: its frame was handled
		return out
	case int(d) >= reorderWindow:
		// Far ahead: everything up to the window before it is lost.
		out = a.skipTo(p.SequenceNumber-reorderWindow+1, now, out)
	}
	slot := &a.buf[p.SequenceNumber%reorderWindow]
	if *slot != nil {
		a.stats.latePackets.Add(1)
		return out
	}
	*slot = p
	a.held++
	out = a.drain(now, out)
	if a.held > 0 {
		if a.holeAt.IsZero() {
			a.holeAt = now
		} else if now.Sub(a.holeAt) > holeTimeout {
			out = a.skipHole(now, out)
		}
	} else {
		a.holeAt = time.Time{}
	}
	return out
}

// drain hands on the packets that are in order.
func (a *assembler) drain(now time.Time, out []encodedFrame) []encodedFrame {
	for {
		slot := &a.buf[a.next%reorderWindow]
		p := *slot
		if p == nil {
			return out
		}
		*slot = nil
		a.held--
		a.next++
		a.holeAt = time.Time{}
		out = a.onPacket(p, now, out)
	}
}

// skipHole declares the packets missing before the first held one lost.
func (a *assembler) skipHole(now time.Time, out []encodedFrame) []encodedFrame {
	for i := uint16(1); i < reorderWindow; i++ {
		if a.buf[(a.next+i)%reorderWindow] != nil {
			return a.skipTo(a.next+i, now, out)
		}
	}
	return out
}

// skipTo declares everything before seq lost and hands on what is held.
func (a *assembler) skipTo(seq uint16, now time.Time, out []encodedFrame) []encodedFrame {
	for int16(seq-a.next) > 0 {
		slot := &a.buf[a.next%reorderWindow]
		if p := *slot; p != nil {
			*slot = nil
			a.held--
			a.next++
			out = a.onPacket(p, now, out)
			continue
		}
		a.stats.lostPackets.Add(1)
		a.curBroke = true
		a.waitKey = true
		a.dp.reset()
		a.next++
	}
	a.holeAt = time.Time{}
	return a.drain(now, out)
}

// onPacket adds an in-order packet to the frame being built.
func (a *assembler) onPacket(p *rtp.Packet, now time.Time, out []encodedFrame) []encodedFrame {
	if a.curOpen && p.Timestamp != a.curTS {
		// The marker of the previous frame was lost.
		a.curBroke = true
		out = a.finish(out)
	}
	data, head, headKnown, err := a.dp.payload(p)
	if !a.curOpen {
		a.curOpen, a.curTS, a.cur, a.curStart = true, p.Timestamp, a.cur[:0], now
		if headKnown && !head {
			a.curBroke = true // its first packet is missing
		}
	}
	if err != nil {
		a.stats.badPackets.Add(1)
		a.curBroke = true
		a.dp.reset()
	} else if len(a.cur)+len(data) > maxFrameBytes {
		a.stats.badPackets.Add(1)
		a.curBroke = true
	} else if !a.curBroke {
		a.cur = append(a.cur, data...)
	}
	if p.Marker {
		out = a.finish(out)
	}
	return out
}

// finish closes the frame being built and hands it on if it is whole and
// decodable.
func (a *assembler) finish(out []encodedFrame) []encodedFrame {
	defer func() { a.curOpen, a.curBroke, a.cur = false, false, a.cur[:0] }()
	if a.curBroke || len(a.cur) == 0 {
		a.stats.framesIncomplete.Add(1)
		a.waitKey = true
		a.dp.reset()
		return out
	}
	key := a.dp.isKey(a.cur)
	if a.waitKey && !key {
		a.stats.framesWaitKey.Add(1)
		return out
	}
	a.waitKey = false
	f := encodedFrame{mime: a.mime, data: bytes.Clone(a.cur), ts: a.curTS, key: key, arrival: a.curStart}
	return append(out, f)
}

// needKey makes the assembler drop frames until the next key frame.
func (a *assembler) needKey() { a.waitKey = true }

// waiting reports whether frames are being dropped until a key frame.
func (a *assembler) waiting() bool { return a.waitKey }
