package whip

// Quiet UDP writes for the server's PeerConnections (Linux).
//
// Go registers every socket with its netpoller for reading AND writing,
// edge-triggered. Linux signals a UDP socket writable again after each
// datagram it sends (the datagram's buffer space is released), so every
// sendto on a netpoller socket wakes a thread sleeping in epoll_wait for
// nothing: nobody waits to write. A forwarding server sends each packet
// once per receiver; avoiding these wake-ups took 6–18 % off its CPU
// with one receiver and 11–15 % with four or seven (BENCHMARKS.md, "WHIP
// and WHEP forwarding", second round).
//
// So each UDP socket ICE asks for is a pair bound to the same address and
// port:
//
//   - r, a normal *net.UDPConn: ICE reads from it through the netpoller;
//   - w, a blocking socket outside the netpoller: every write goes out
//     through it, with the same source address and port, and wakes nobody.
//
// Both are in one SO_REUSEPORT group whose classic BPF program steers every
// incoming datagram to the group's first socket, r. The program is
// attached to r before r is bound, so r starts a group of its own: its
// bind (port 0: a free port; a given port: fails if anything is bound
// there) never joins another program's group. w then joins r's group. A
// later socket of the same user with SO_REUSEPORT could still join the
// group, and would receive nothing.
//
// Invariants: nothing is ever received on w (the program picks index 0,
// r, which joined first); a write on w that would block longer than
// sendTimeout fails (the datagram is dropped, as UDP may) instead of
// stalling its writer; Close closes both sockets. Anything that cannot be
// set up this way (another network, a kernel without the options) gets an
// ordinary socket.

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
	"golang.org/x/sys/unix"
)

// sendTimeout bounds a write on a full socket buffer.
const sendTimeout = 500 * time.Millisecond

// NewNet returns the network for the server's SettingEngine.SetNet: the
// standard one, with quiet UDP writes (see the file comment).
func NewNet() (transport.Net, error) {
	n, err := stdnet.NewNet()
	if err != nil {
		return nil, err
	}
	return &quietNet{Net: n}, nil
}

type quietNet struct{ *stdnet.Net }

// ListenUDP returns a quiet socket pair for a unicast address, else an
// ordinary socket.
func (n *quietNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	if c := listenQuiet(network, laddr); c != nil {
		return c, nil
	}
	return n.Net.ListenUDP(network, laddr)
}

// listenQuiet builds the pair, or returns nil.
func listenQuiet(network string, laddr *net.UDPAddr) *quietConn {
	if laddr == nil || laddr.IP == nil || laddr.IP.IsUnspecified() || laddr.IP.IsMulticast() {
		return nil
	}
	switch network {
	case "udp", "udp4", "udp6":
	default:
		return nil
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		if cerr := c.Control(func(fd uintptr) { err = steerToFirst(int(fd)) }); cerr != nil {
			return cerr
		}
		return err
	}}
	pc, err := lc.ListenPacket(context.Background(), network, laddr.String())
	if err != nil {
		return nil
	}
	r, ok := pc.(*net.UDPConn)
	if !ok {
		_ = pc.Close()
		return nil
	}
	w, domain, err := joinForWrites(r)
	if err != nil {
		_ = r.Close()
		return nil
	}
	return &quietConn{UDPConn: r, w: w, domain: domain}
}

// steerToFirst makes fd, not yet bound, the first socket of a new
// SO_REUSEPORT group that delivers everything to its first socket.
func steerToFirst(fd int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
		return err
	}
	prog := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: 0}} // return index 0
	return unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF,
		&unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]})
}

// joinForWrites opens a blocking socket bound where r is, in r's group,
// and returns it with the address family.
func joinForWrites(r *net.UDPConn) (w, domain int, err error) {
	rc, err := r.SyscallConn()
	if err != nil {
		return -1, 0, err
	}
	var (
		v6only int
		local  unix.Sockaddr
		gerr   error
	)
	if err := rc.Control(func(fd uintptr) {
		if domain, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN); gerr != nil {
			return
		}
		if domain == unix.AF_INET6 {
			if v6only, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_V6ONLY); gerr != nil {
				return
			}
		}
		local, gerr = unix.Getsockname(int(fd))
	}); err != nil {
		return -1, 0, err
	}
	if gerr != nil {
		return -1, 0, gerr
	}
	if w, err = unix.Socket(domain, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err != nil {
		return -1, 0, err
	}
	tv := unix.NsecToTimeval(sendTimeout.Nanoseconds())
	err = errors.Join(
		unix.SetsockoptInt(w, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1),
		unix.SetsockoptTimeval(w, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv),
	)
	if err == nil && domain == unix.AF_INET6 {
		err = unix.SetsockoptInt(w, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v6only)
	}
	if err == nil {
		err = unix.Bind(w, local)
	}
	if err != nil {
		_ = unix.Close(w)
		return -1, 0, err
	}
	return w, domain, nil
}

// quietConn reads through its *net.UDPConn and writes through w. It
// implements ice.AddrPortReaderWriter, so ICE reads and writes without
// net.Addr allocations; ICE reads no ECN marks from it (ICE takes those
// only from a bare *net.UDPConn, and the server uses none).
type quietConn struct {
	*net.UDPConn
	w      int // the write socket
	domain int // AF_INET or AF_INET6, both sockets'
	once   sync.Once

	mu    sync.Mutex
	zones map[string]uint32 // IPv6 zone → interface index
}

func (c *quietConn) Close() error {
	err := c.UDPConn.Close()
	c.once.Do(func() { _ = unix.Close(c.w) })
	return err
}

func (c *quietConn) SetWriteBuffer(n int) error {
	return errors.Join(c.UDPConn.SetWriteBuffer(n), unix.SetsockoptInt(c.w, unix.SOL_SOCKET, unix.SO_SNDBUF, n))
}

func (c *quietConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	return c.UDPConn.ReadFromUDPAddrPort(b)
}

func (c *quietConn) WriteToAddrPort(b []byte, to netip.AddrPort) (int, error) {
	return c.send(b, to)
}

func (c *quietConn) WriteToUDPAddrPort(b []byte, to netip.AddrPort) (int, error) {
	return c.send(b, to)
}

func (c *quietConn) WriteToUDP(b []byte, to *net.UDPAddr) (int, error) {
	if to == nil {
		return 0, errNoAddr
	}
	return c.send(b, to.AddrPort())
}

func (c *quietConn) WriteTo(b []byte, to net.Addr) (int, error) {
	u, ok := to.(*net.UDPAddr)
	if !ok || u == nil {
		return c.UDPConn.WriteTo(b, to) // its error, for its reason
	}
	return c.send(b, u.AddrPort())
}

var errNoAddr = errors.New("write to a nil address")

// send writes one datagram to `to` through w.
func (c *quietConn) send(b []byte, to netip.AddrPort) (int, error) {
	var sa unix.Sockaddr
	a := to.Addr()
	switch {
	case c.domain == unix.AF_INET && a.Unmap().Is4():
		sa = &unix.SockaddrInet4{Port: int(to.Port()), Addr: a.Unmap().As4()}
	case c.domain == unix.AF_INET6 && a.IsValid():
		sa = &unix.SockaddrInet6{Port: int(to.Port()), Addr: a.As16(), ZoneId: c.zoneID(a.Zone())}
	default:
		return 0, &net.OpError{Op: "write", Net: "udp", Source: c.LocalAddr(), Addr: net.UDPAddrFromAddrPort(to), Err: errFamily}
	}
	for {
		err := unix.Sendto(c.w, b, 0, sa)
		switch {
		case err == nil:
			return len(b), nil
		case errors.Is(err, unix.EINTR): // SO_SNDTIMEO makes signals interrupt
			continue
		default:
			return 0, &net.OpError{Op: "write", Net: "udp", Source: c.LocalAddr(), Addr: net.UDPAddrFromAddrPort(to), Err: err}
		}
	}
}

var errFamily = errors.New("address family does not match the socket's")

// zoneID is the interface index of an IPv6 zone (0 for none), remembered.
func (c *quietConn) zoneID(zone string) uint32 {
	if zone == "" {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if id, ok := c.zones[zone]; ok {
		return id
	}
	var id uint32
	if ifi, err := net.InterfaceByName(zone); err == nil {
		id = uint32(ifi.Index)
	}
	if c.zones == nil {
		c.zones = map[string]uint32{}
	}
	c.zones[zone] = id
	return id
}
