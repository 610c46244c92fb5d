package wstest

import (
	"bytes"
	"testing"
)

func TestClientFrameLengths(t *testing.T) {
	for _, n := range []int{0, 125, 126, 65535, 65536} {
		f := ClientFrame(nil, bytes.Repeat([]byte{'a'}, n))
		var hdr int
		switch {
		case n < 126:
			hdr = 2
		case n <= 0xffff:
			hdr = 4
		default:
			hdr = 10
		}
		if len(f) != hdr+4+n {
			t.Errorf("payload %d: frame %d bytes, want %d", n, len(f), hdr+4+n)
		}
	}
}
