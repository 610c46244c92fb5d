package rxbatch

import "github.com/pion/transport/v5"

// Syscalls is the number of recvmmsg calls of a batching conn (-1 for a
// conn that does not batch).
func Syscalls(c transport.UDPConn) int64 {
	if bc, ok := c.(*conn); ok {
		return bc.syscalls.Load()
	}
	return -1
}
