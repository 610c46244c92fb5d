package turn

import (
	"errors"
	"net"
	"strconv"
	"sync"

	pionturn "github.com/pion/turn/v5"
)

// errClosed refuses allocations once the server is closing.
var errClosed = errors.New("turn server closed")

// tracker follows every socket pion reads from, so Close can close them
// all and wait until each reader has seen the error and returned. pion's
// Server.Close neither closes accepted TCP connections nor waits.
type tracker struct {
	mu     sync.Mutex
	closed bool
	open   map[*trackedReader]func() error // reader → its socket's Close
	wg     sync.WaitGroup
}

func newTracker() *tracker {
	return &tracker{open: make(map[*trackedReader]func() error)}
}

// trackedReader marks one reading loop as finished once a read fails.
type trackedReader struct {
	t    *tracker
	once sync.Once
}

// add registers a socket; it fails once the tracker is closed.
func (t *tracker) add(closeFn func() error) (*trackedReader, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, errClosed
	}
	r := &trackedReader{t: t}
	t.open[r] = closeFn
	t.wg.Add(1)
	return r, nil
}

// readFailed records that the socket's reader has stopped.
func (r *trackedReader) readFailed(err error) {
	if err == nil {
		return
	}
	r.once.Do(func() {
		r.t.mu.Lock()
		delete(r.t.open, r)
		r.t.mu.Unlock()
		r.t.wg.Done()
	})
}

// closeAll refuses new sockets, closes every open one and waits until
// every reader has stopped.
func (t *tracker) closeAll() {
	t.mu.Lock()
	t.closed = true
	closers := make([]func() error, 0, len(t.open))
	for _, c := range t.open {
		closers = append(closers, c)
	}
	t.mu.Unlock()
	for _, c := range closers {
		_ = c() // pion may have closed it already
	}
	t.wg.Wait()
}

// onceCloser closes a socket once; later calls return the first result,
// so pion and the tracker may both close it without errors.
type onceCloser struct {
	once sync.Once
	err  error
	fn   func() error
}

func (c *onceCloser) Close() error {
	c.once.Do(func() { c.err = c.fn() })
	return c.err
}

// packetConn is a tracked net.PacketConn.
type packetConn struct {
	net.PacketConn
	r *trackedReader
	c *onceCloser
}

func (t *tracker) packetConn(pc net.PacketConn) (net.PacketConn, error) {
	c := &onceCloser{fn: pc.Close}
	r, err := t.add(c.Close)
	if err != nil {
		_ = pc.Close()
		return nil, err
	}
	return &packetConn{PacketConn: pc, r: r, c: c}, nil
}

func (c *packetConn) Close() error { return c.c.Close() }

func (c *packetConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.PacketConn.ReadFrom(b)
	c.r.readFailed(err)
	return n, addr, err
}

// conn is a tracked accepted TCP connection.
type conn struct {
	net.Conn
	r *trackedReader
	c *onceCloser
}

func (c *conn) Close() error { return c.c.Close() }

func (c *conn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.r.readFailed(err)
	return n, err
}

// listener is a tracked net.Listener whose accepted connections are tracked.
type listener struct {
	net.Listener
	t *tracker
	r *trackedReader
	c *onceCloser
}

func (t *tracker) listener(l net.Listener) (net.Listener, error) {
	c := &onceCloser{fn: l.Close}
	r, err := t.add(c.Close)
	if err != nil {
		_ = l.Close()
		return nil, err
	}
	return &listener{Listener: l, t: t, r: r, c: c}, nil
}

func (l *listener) Close() error { return l.c.Close() }

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		l.r.readFailed(err)
		return nil, err
	}
	closer := &onceCloser{fn: c.Close}
	r, err := l.t.add(closer.Close)
	if err != nil {
		_ = c.Close()
		l.r.readFailed(err)
		return nil, err
	}
	return &conn{Conn: c, r: r, c: closer}, nil
}

// relayGenerator binds relay sockets on address and announces them with
// publicIP; every socket is tracked. Only UDP relays of publicIP's address
// family exist: RFC 6062 TCP relay allocations are refused.
type relayGenerator struct {
	t        *tracker
	address  string
	publicIP net.IP
}

var _ pionturn.RelayAddressGenerator = (*relayGenerator)(nil)

// errUnsupportedRelay refuses TCP and other-family relay allocations.
var errUnsupportedRelay = errors.New("only UDP relays of the public IP's address family are offered")

// Validate implements turn.RelayAddressGenerator.
func (g *relayGenerator) Validate() error { return nil }

// AllocatePacketConn binds a UDP relay socket.
func (g *relayGenerator) AllocatePacketConn(c pionturn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	want := "udp4"
	if g.publicIP.To4() == nil {
		want = "udp6"
	}
	if c.Network != want {
		return nil, nil, errUnsupportedRelay
	}
	pc, err := net.ListenPacket(c.Network, net.JoinHostPort(g.address, strconv.Itoa(c.RequestedPort)))
	if err != nil {
		return nil, nil, err
	}
	local, ok := pc.LocalAddr().(*net.UDPAddr)
	if !ok {
		_ = pc.Close()
		return nil, nil, errors.New("relay socket has no UDP address")
	}
	tracked, err := g.t.packetConn(pc)
	if err != nil {
		return nil, nil, err
	}
	return tracked, &net.UDPAddr{IP: g.publicIP, Port: local.Port}, nil
}

// AllocateListener refuses TCP relay allocations.
func (g *relayGenerator) AllocateListener(pionturn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	return nil, nil, errUnsupportedRelay
}

// AllocateConn refuses TCP relay connections.
func (g *relayGenerator) AllocateConn(pionturn.AllocateConnConfig) (net.Conn, error) {
	return nil, errUnsupportedRelay
}
