package rxbatch

// The batching conn (Linux): recvmmsg through the socket's RawConn, so a
// blocking read waits in Go's netpoller and a non-blocking one
// (MSG_DONTWAIT) returns at once. The read state machine, under rmu:
//
//	idle   ── read: block in the netpoller; the first datagrams wake it
//	          and are served at once. If they came less than IdleAfter
//	          after the previous ones, traffic is flowing: → active.
//	active ── read: sleep to the next grid instant (Period apart), take
//	          everything queued (MSG_DONTWAIT); a full batch is followed
//	          by another read at once. Nothing for IdleAfter: → idle.
//
// So a socket that receives steadily (a publisher's media) costs one
// wake-up per Period whatever its packet rate, and a socket that receives
// a datagram now and then (RTCP from a receiver, STUN) reads as before,
// one datagram per wake-up, and never ticks.

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/pion/transport/v5"
	"golang.org/x/sys/unix"
)

const (
	batchLen = 16   // datagrams per recvmmsg
	slotSize = 8192 // bytes per datagram slot: pion ICE's own read buffer
	oobSize  = 64   // control bytes per datagram: one SCM_TIMESTAMPNS
)

// wrap turns on kernel timestamps and returns the batching conn, or c when
// that cannot be done.
func (n *Net) wrap(c transport.UDPConn) transport.UDPConn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		n.cfg.Logger.Debug("rxbatch: conn without syscall.Conn, reads not batched", "local", c.LocalAddr())
		return c
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		n.cfg.Logger.Debug("rxbatch: no raw conn, reads not batched", "local", c.LocalAddr(), "err", err)
		return c
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	}); err != nil || serr != nil {
		n.cfg.Logger.Debug("rxbatch: no SO_TIMESTAMPNS, reads not batched", "local", c.LocalAddr(), "err", errors.Join(err, serr))
		return c
	}
	return &conn{UDPConn: c, rc: rc, net: n, closed: make(chan struct{})}
}

// conn batches the reads of its inner conn; writes and the rest go to the
// inner conn. It implements pion ICE's AddrPortReaderWriter. It exposes no
// SyscallConn: every read must go through the batch.
type conn struct {
	transport.UDPConn
	rc       syscall.RawConn
	net      *Net
	closed   chan struct{}
	once     sync.Once
	deadline atomic.Int64 // read deadline, Unix ns; 0 = none
	syscalls atomic.Int64 // recvmmsg calls, for tests

	rmu sync.Mutex // one reader at a time; guards everything below
	// The batch: datagrams next..n-1 are not served yet.
	n, next int
	views   [batchLen][]byte
	addrs   [batchLen]netip.AddrPort
	nanos   [batchLen]int64
	full    bool // the last recvmmsg filled every slot
	// Buffers, allocated by the first read.
	bufs  []byte
	oobs  []byte
	hs    []mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrAny
	// Scheduling.
	active   bool
	grid     time.Time // the next read instant when active
	lastData time.Time // when a read last returned datagrams
	timer    *time.Timer
	zones    map[uint32]string // IPv6 scope id → interface name
}

// mmsghdr is struct mmsghdr of recvmmsg(2).
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
}

var errDeadline = os.ErrDeadlineExceeded

func (c *conn) opErr(err error) error {
	return &net.OpError{Op: "read", Net: "udp", Source: c.LocalAddr(), Err: err}
}

// Close closes the inner conn and wakes a read sleeping between ticks.
func (c *conn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.UDPConn.Close()
}

func (c *conn) SetReadDeadline(t time.Time) error {
	c.setDeadline(t)
	return c.UDPConn.SetReadDeadline(t)
}

func (c *conn) SetDeadline(t time.Time) error {
	c.setDeadline(t)
	return c.UDPConn.SetDeadline(t)
}

func (c *conn) setDeadline(t time.Time) {
	if t.IsZero() {
		c.deadline.Store(0)
	} else {
		c.deadline.Store(t.UnixNano())
	}
}

// ReadFromAddrPort returns the oldest datagram not yet returned.
func (c *conn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	select {
	case <-c.closed:
		return 0, netip.AddrPort{}, c.opErr(net.ErrClosed)
	default:
	}
	if c.next == c.n {
		if err := c.fill(); err != nil {
			return 0, netip.AddrPort{}, err
		}
	}
	i := c.next
	c.next++
	return copy(b, c.views[i]), c.addrs[i], nil
}

func (c *conn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, a, err := c.ReadFromAddrPort(b)
	if err != nil {
		return 0, nil, err
	}
	return n, net.UDPAddrFromAddrPort(a), nil
}

func (c *conn) ReadFromUDP(b []byte) (int, *net.UDPAddr, error) {
	n, a, err := c.ReadFromAddrPort(b)
	if err != nil {
		return 0, nil, err
	}
	return n, net.UDPAddrFromAddrPort(a), nil
}

func (c *conn) Read(b []byte) (int, error) {
	n, _, err := c.ReadFromAddrPort(b)
	return n, err
}

// ReadMsgUDP returns no control data (the batch keeps only timestamps).
func (c *conn) ReadMsgUDP(b, _ []byte) (n, oobn, flags int, addr *net.UDPAddr, err error) {
	n, addr, err = c.ReadFromUDP(b)
	return n, 0, 0, addr, err
}

func (c *conn) WriteToAddrPort(b []byte, to netip.AddrPort) (int, error) {
	switch w := c.UDPConn.(type) {
	case interface {
		WriteToAddrPort([]byte, netip.AddrPort) (int, error)
	}:
		return w.WriteToAddrPort(b, to)
	case interface {
		WriteToUDPAddrPort([]byte, netip.AddrPort) (int, error)
	}:
		return w.WriteToUDPAddrPort(b, to)
	}
	return c.UDPConn.WriteTo(b, net.UDPAddrFromAddrPort(to))
}

// fill reads the next batch (the state machine of the file comment).
func (c *conn) fill() error {
	period, idleAfter := c.net.cfg.Period, c.net.cfg.IdleAfter
	for {
		if c.full { // more may be queued: read again now
			n, err := c.recv(false)
			if err != nil {
				return err
			}
			if n > 0 {
				c.lastData = time.Now()
				return nil
			}
		}
		if !c.active {
			if _, err := c.recv(true); err != nil {
				return err
			}
			now := time.Now()
			if now.Sub(c.lastData) < idleAfter {
				c.active = true
				c.grid = now.Add(period)
			}
			c.lastData = now
			return nil
		}
		if err := c.sleepUntil(c.grid); err != nil {
			return err
		}
		now := time.Now()
		if c.grid = c.grid.Add(period); c.grid.Before(now) {
			c.grid = now.Add(period)
		}
		n, err := c.recv(false)
		if err != nil {
			return err
		}
		if n > 0 {
			c.lastData = now
			return nil
		}
		if now.Sub(c.lastData) >= idleAfter {
			c.active = false
		}
	}
}

// sleepUntil sleeps to t, or returns early with an error on Close or the
// read deadline.
func (c *conn) sleepUntil(t time.Time) error {
	d := time.Until(t)
	dl := c.deadline.Load()
	if dl != 0 {
		if untilDl := time.Until(time.Unix(0, dl)); untilDl <= d {
			if untilDl > 0 {
				if err := c.sleep(untilDl); err != nil {
					return err
				}
			}
			return c.opErr(errDeadline)
		}
	}
	if d <= 0 {
		return nil
	}
	return c.sleep(d)
}

func (c *conn) sleep(d time.Duration) error {
	if c.timer == nil {
		c.timer = time.NewTimer(d)
	} else {
		c.timer.Reset(d)
	}
	select {
	case <-c.timer.C:
		return nil
	case <-c.closed:
		c.timer.Stop()
		return c.opErr(net.ErrClosed)
	}
}

// recv reads up to batchLen datagrams into the batch, which must be
// served already; block waits in the netpoller for the first. It returns
// how many it read.
func (c *conn) recv(block bool) (int, error) {
	if c.hs == nil {
		c.alloc()
	}
	for i := range c.hs {
		h := &c.hs[i].hdr
		h.Namelen = uint32(unsafe.Sizeof(c.names[i]))
		h.SetControllen(oobSize)
		h.Flags = 0
		c.hs[i].len = 0
	}
	var (
		got  int
		errn syscall.Errno
	)
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			c.syscalls.Add(1)
			r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&c.hs[0])), uintptr(len(c.hs)), unix.MSG_DONTWAIT, 0, 0)
			switch e {
			case 0:
				got = int(r)
				return true
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return !block
			default:
				errn = e
				return true
			}
		}
	})
	c.n, c.next, c.full = 0, 0, false
	if err != nil {
		return 0, c.opErr(err)
	}
	if errn != 0 {
		return 0, c.opErr(os.NewSyscallError("recvmmsg", errn))
	}
	now := time.Now().UnixNano()
	for i := range got {
		l := min(int(c.hs[i].len), slotSize) // MSG_TRUNC: truncated, as pion's own read would
		c.views[i] = c.bufs[i*slotSize : i*slotSize+l]
		c.addrs[i] = c.addr(&c.names[i])
		c.nanos[i] = c.stamp(i, now)
	}
	c.n, c.full = got, got == batchLen
	if got > 0 {
		c.net.arr.recordBatch(c.views[:got], c.nanos[:got])
	}
	return got, nil
}

func (c *conn) alloc() {
	c.bufs = make([]byte, batchLen*slotSize)
	c.oobs = make([]byte, batchLen*oobSize)
	c.hs = make([]mmsghdr, batchLen)
	c.iovs = make([]unix.Iovec, batchLen)
	c.names = make([]unix.RawSockaddrAny, batchLen)
	for i := range c.hs {
		c.iovs[i].Base = &c.bufs[i*slotSize]
		c.iovs[i].SetLen(slotSize)
		h := &c.hs[i].hdr
		h.Name = (*byte)(unsafe.Pointer(&c.names[i]))
		h.Iov = &c.iovs[i]
		h.SetIovlen(1)
		h.Control = &c.oobs[i*oobSize]
	}
}

// stamp returns datagram i's SCM_TIMESTAMPNS, or now without one.
func (c *conn) stamp(i int, now int64) int64 {
	oob := c.oobs[i*oobSize : i*oobSize+int(c.hs[i].hdr.Controllen)]
	hdrLen := unix.CmsgLen(0)
	for len(oob) >= hdrLen {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < hdrLen || l > len(oob) {
			break
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_TIMESTAMPNS && l-hdrLen >= int(unsafe.Sizeof(unix.Timespec{})) {
			ts := (*unix.Timespec)(unsafe.Pointer(&oob[hdrLen]))
			return ts.Nano()
		}
		sp := unix.CmsgSpace(l - hdrLen)
		if sp > len(oob) {
			break
		}
		oob = oob[sp:]
	}
	return now
}

// addr converts a received source address.
func (c *conn) addr(sa *unix.RawSockaddrAny) netip.AddrPort {
	switch sa.Addr.Family {
	case unix.AF_INET:
		a := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		p := (*[2]byte)(unsafe.Pointer(&a.Port))
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(p[0])<<8|uint16(p[1]))
	case unix.AF_INET6:
		a := (*unix.RawSockaddrInet6)(unsafe.Pointer(sa))
		p := (*[2]byte)(unsafe.Pointer(&a.Port))
		ip := netip.AddrFrom16(a.Addr)
		if a.Scope_id != 0 {
			ip = ip.WithZone(c.zone(a.Scope_id))
		}
		return netip.AddrPortFrom(ip, uint16(p[0])<<8|uint16(p[1]))
	}
	return netip.AddrPort{}
}

// zone names an IPv6 scope id (as Go's own reads do), remembered.
func (c *conn) zone(id uint32) string {
	if z, ok := c.zones[id]; ok {
		return z
	}
	z := strconv.FormatUint(uint64(id), 10)
	if ifi, err := net.InterfaceByIndex(int(id)); err == nil {
		z = ifi.Name
	}
	if c.zones == nil {
		c.zones = map[uint32]string{}
	}
	c.zones[id] = z
	return z
}
