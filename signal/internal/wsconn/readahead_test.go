package wsconn

import (
	"bytes"
	"strings"
	"testing"

	"github.com/videochat/videochat/internal/wstest"
)

// maskedFrame is a client frame: first byte b0, payload masked with the
// all-zero key.
func maskedFrame(b0 byte, payload string) []byte {
	return append([]byte{b0, 0x80 | byte(len(payload)), 0, 0, 0, 0}, payload...)
}

func TestSkipPong(t *testing.T) {
	pong := maskedFrame(0x8a, "hi")
	text := maskedFrame(0x81, `{"type":"leave"}`)
	for _, tc := range []struct {
		name    string
		buf     []byte
		midway  bool // the reader is inside a frame
		skipped bool
		left    []byte // bytes still read ahead afterwards
	}{
		{name: "pong alone", buf: pong, skipped: true},
		{name: "empty pong", buf: maskedFrame(0x8a, ""), skipped: true},
		{name: "pong then text", buf: append(append([]byte{}, pong...), text...), skipped: true, left: text},
		{name: "text", buf: text, left: text},
		{name: "ping is gorilla's", buf: maskedFrame(0x89, "hi"), left: maskedFrame(0x89, "hi")},
		{name: "part of a pong", buf: pong[:5], left: pong[:5]},
		{name: "unmasked pong", buf: []byte{0x8a, 0}, left: []byte{0x8a, 0}},
		{name: "pong without fin", buf: maskedFrame(0x0a, ""), left: maskedFrame(0x0a, "")},
		{name: "reserved bit", buf: maskedFrame(0xca, ""), left: maskedFrame(0xca, "")},
		{name: "oversized length", buf: []byte{0x8a, 0x80 | 126, 0, 1, 0, 0, 0, 0}, left: []byte{0x8a, 0x80 | 126, 0, 1, 0, 0, 0, 0}},
		{name: "inside a frame", buf: pong, midway: true, left: pong},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &batchConn{pool: newBufferPool()}
			buf := b.pool.Get().(*[]byte)
			*buf = append((*buf)[:0], tc.buf...)
			b.rs.rbuf = buf
			if tc.midway {
				b.rs.left = 3
			}
			if got := b.skipPong(); got != tc.skipped {
				t.Fatalf("skipPong = %v, want %v", got, tc.skipped)
			}
			var left []byte
			if b.rs.rbuf != nil {
				left = (*b.rs.rbuf)[b.rs.roff:]
			}
			if !bytes.Equal(left, tc.left) {
				t.Fatalf("left %q, want %q", left, tc.left)
			}
			if len(tc.left) == 0 && b.buffered() {
				t.Fatal("buffered after everything was consumed")
			}
		})
	}
}

// BenchmarkReadState hands a stream of typical client frames (candidates
// of about 150 bytes) through readState in the chunks gorilla asks for,
// as batchConn.Read does; ns/op is per frame. It covers the frame header
// checks (checkHeader), which run once per frame.
func BenchmarkReadState(b *testing.B) {
	payload := []byte(`{"type":"candidate","to":"0123456789abcdef","candidate":{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host","sdpMid":"0"}}`)
	var stream []byte
	const frames = 1000
	for range frames {
		stream = wstest.ClientFrame(stream, payload)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += frames {
		var r readState
		for off := 0; off < len(stream); {
			n := r.limit(min(readBufferSize, len(stream)-off))
			r.advance(stream[off : off+n])
			off += n
		}
	}
}

// TestReadStateFrames: however the bytes arrive and however gorilla asks
// for them, batchConn hands out no chunk that crosses a frame boundary.
func TestReadStateFrames(t *testing.T) {
	var stream []byte
	var ends []int // offsets where frames end
	for _, n := range []int{0, 5, 125, 126, 300, 65535, 70000} {
		stream = wstest.ClientFrame(stream, []byte(strings.Repeat("x", n)))
		ends = append(ends, len(stream))
	}
	stream = append(stream, 0x89, 0x80, 0, 0, 0, 0) // an empty ping
	ends = append(ends, len(stream))
	for _, ask := range []int{1, 2, 3, 7, 128, 4096, 1 << 20} {
		var r readState
		off, next := 0, 0
		for off < len(stream) {
			n := r.limit(min(ask, len(stream)-off))
			if n <= 0 {
				t.Fatalf("ask %d: stuck at %d", ask, off)
			}
			r.advance(stream[off : off+n])
			for next < len(ends) && ends[next] <= off {
				next++
			}
			if off+n > ends[next] {
				t.Fatalf("ask %d: chunk [%d,%d) crosses the frame end at %d", ask, off, off+n, ends[next])
			}
			off += n
		}
		if r.hlen != 0 || r.left != 0 {
			t.Fatalf("ask %d: state %+v after the last frame", ask, r)
		}
	}
}
