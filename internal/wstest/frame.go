// Package wstest builds raw WebSocket client frames for the signalling
// server's tests and for its load generator (videochat bench signal),
// which write bytes straight to a socket to leave a client library out.
package wstest

import "encoding/binary"

// ClientFrame appends payload to dst as one masked text frame with the
// all-zero key (RFC 6455 section 5.2), so the payload bytes go out as they are.
func ClientFrame(dst, payload []byte) []byte {
	n := len(payload)
	switch {
	case n < 126:
		dst = append(dst, 0x81, 0x80|byte(n))
	case n <= 0xffff:
		dst = append(dst, 0x81, 0x80|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, 0x81, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	dst = append(dst, 0, 0, 0, 0)
	return append(dst, payload...)
}
