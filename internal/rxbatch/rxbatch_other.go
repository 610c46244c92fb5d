//go:build !linux

package rxbatch

import "github.com/pion/transport/v5"

// wrap: no recvmmsg here, so reads are not coalesced (plain pass-through).
func (n *Net) wrap(c transport.UDPConn) transport.UDPConn { return c }
