// Package whipfloor measures the floor under the server's WHIP forwarding
// cost (BENCHMARKS.md, issue 15, "Fourth round: the floor"): the least work
// a Go process must do to forward one publisher's SRTP stream to N
// receivers on loopback, in the same process shape as `serve --whip` (a
// process of its own that sleeps between packets), so that its CPU per
// packet can be set beside the real server's in the same run.
//
// The three roles, each a process (the test binary re-executed, see
// main_test.go):
//
//	Send:    clip.ivf (VP8, one frame per 33 ms, packets of a frame back to
//	         back, 1200-byte MTU as pion's sample tracks) + one 160-byte
//	         audio packet per 20 ms, SRTP (AEAD_AES_256_GCM, what two pion
//	         peers negotiate), to the forwarder's port, looped.
//	Forward: read a datagram ─▶ srtp.Context.DecryptRTP ─▶ per receiver:
//	         rewrite the SSRC, EncryptRTP with that receiver's context, send.
//	Sink:    sockets that read and drop, or never read (their CPU is not
//	         measured; the benchmark runs one sink process per receiver,
//	         as the real receivers are processes).
//
// Forward's knobs isolate what the real server pays beyond the floor:
// Read "block" (a blocking socket read by raw syscalls, outside Go's
// netpoller) or "netpoll" (*net.UDPConn); Write "block" (a blocking socket,
// as whip.NewNet's quiet writes), "netpoll" (*net.UDPConn) or "mmsg" (one
// sendmmsg per packet for all receivers); Handoffs, the number of
// goroutines a packet crosses after the reading one before it is
// forwarded (pion's receive chain is three: ICE read loop ─▶ mux ─▶ SRTP
// read loop ─▶ track reader), each through a buffered channel.
//
// This is benchmark code: it measures, it is not a media path of the
// product. Keys are fixed; nothing here authenticates anyone.
package whipfloor

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"golang.org/x/sys/unix"
)

// Profile is the SRTP profile two pion peers negotiate by default.
const Profile = srtp.ProtectionProfileAeadAes256Gcm

const (
	videoSSRC = 0x11111111
	audioSSRC = 0x22222222
	mtu       = 1200
	audioSize = 160 // Opus 64 kbps, 20 ms
)

// Keys returns the fixed SRTP master key and salt of stream i (0: the
// publisher, 1..N: the receivers).
func Keys(i int) (key, salt []byte) {
	key, salt = make([]byte, 32), make([]byte, 12)
	for j := range key {
		key[j] = byte(i*7 + j)
	}
	for j := range salt {
		salt[j] = byte(i*13 + j + 100)
	}
	return key, salt
}

func newContext(i int) (*srtp.Context, error) {
	key, salt := Keys(i)
	return srtp.CreateContext(key, salt, Profile)
}

// ForwardConfig is one forwarder's shape.
type ForwardConfig struct {
	Listen    *net.UDPAddr   // where the publisher sends
	Receivers []*net.UDPAddr // one per receiver, in key order (Keys(1)…)
	Read      string         // "block" or "netpoll"
	Write     string         // "block", "netpoll" or "mmsg"
	Handoffs  int            // goroutines crossed after the reader
	Ready     func(*net.UDPAddr)
}

// Counts are what a forwarder did.
type Counts struct {
	Received, Forwarded, Bad atomic.Uint64
}

// reader reads one datagram into b.
type reader interface {
	read(b []byte) (int, error)
	close() // unblocks read; idempotent
	free()  // after the last read
}

// sender sends one packet to each receiver: pkts[i] to receiver i.
type sender interface {
	send(pkts [][]byte) error
	close()
}

// Forward runs a forwarder until ctx ends. Every goroutine it starts has
// ended when it returns.
func Forward(ctx context.Context, cfg ForwardConfig, c *Counts) error {
	if len(cfg.Receivers) == 0 {
		return errors.New("whipfloor: no receivers")
	}
	rd, addr, err := openReader(cfg.Read, cfg.Listen)
	if err != nil {
		return err
	}
	defer rd.free()
	defer rd.close()
	wr, err := openSender(cfg.Write, cfg.Receivers)
	if err != nil {
		return err
	}
	defer wr.close()
	dec, err := newContext(0)
	if err != nil {
		return err
	}
	enc := make([]*srtp.Context, len(cfg.Receivers))
	for i := range enc {
		if enc[i], err = newContext(i + 1); err != nil {
			return err
		}
	}
	if cfg.Ready != nil {
		cfg.Ready(addr)
	}
	stop := context.AfterFunc(ctx, rd.close) // unblocks the read
	defer stop()

	// forward is the last stage: decrypt, then re-encrypt for each receiver.
	plain := make([]byte, 0, 1500)
	outs := make([][]byte, len(enc))
	for i := range outs {
		outs[i] = make([]byte, 0, 1500)
	}
	var h rtp.Header
	forward := func(pkt []byte) {
		c.Received.Add(1)
		p, err := dec.DecryptRTP(plain[:0], pkt, &h)
		if err != nil || len(p) < 12 {
			c.Bad.Add(1)
			return
		}
		ssrc := h.SSRC
		for i, e := range enc {
			rx := ssrc + uint32(i+1)<<24 // each receiver's own SSRC
			binary.BigEndian.PutUint32(p[8:12], rx)
			h.SSRC = rx
			if outs[i], err = e.EncryptRTP(outs[i][:0], p, &h); err != nil {
				c.Bad.Add(1)
				return
			}
		}
		if err := wr.send(outs); err != nil {
			c.Bad.Add(1)
			return
		}
		c.Forwarded.Add(uint64(len(outs)))
	}

	if cfg.Handoffs <= 0 {
		buf := make([]byte, 1500)
		for {
			n, err := rd.read(buf)
			if err != nil {
				return ctx.Err()
			}
			forward(buf[:n])
		}
	}

	// A chain of goroutines, each handing the packet to the next through a
	// buffered channel; buffers return to the reader through a pool channel.
	const depth = 64
	pool := make(chan []byte, depth)
	for range depth {
		pool <- make([]byte, 1500)
	}
	chans := make([]chan []byte, cfg.Handoffs)
	for i := range chans {
		chans[i] = make(chan []byte, depth)
	}
	var wg sync.WaitGroup
	for i := range cfg.Handoffs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := i == cfg.Handoffs-1
			for b := range chans[i] {
				if last {
					forward(b)
					pool <- b[:cap(b)]
				} else {
					chans[i+1] <- b
				}
			}
			if !last {
				close(chans[i+1])
			}
		}()
	}
	defer wg.Wait()
	defer close(chans[0])
	for {
		b := <-pool
		n, err := rd.read(b)
		if err != nil {
			return ctx.Err()
		}
		chans[0] <- b[:n]
	}
}

func openReader(mode string, at *net.UDPAddr) (reader, *net.UDPAddr, error) {
	switch mode {
	case "netpoll":
		c, err := net.ListenUDP("udp4", at)
		if err != nil {
			return nil, nil, err
		}
		return netpollReader{c}, c.LocalAddr().(*net.UDPAddr), nil
	case "block":
		fd, err := blockingSocket()
		if err != nil {
			return nil, nil, err
		}
		sa := &syscall.SockaddrInet4{Port: at.Port}
		copy(sa.Addr[:], at.IP.To4())
		if err := syscall.Bind(fd, sa); err != nil {
			syscall.Close(fd)
			return nil, nil, err
		}
		got, err := syscall.Getsockname(fd)
		if err != nil {
			syscall.Close(fd)
			return nil, nil, err
		}
		g := got.(*syscall.SockaddrInet4)
		return &blockReader{fd: fd}, &net.UDPAddr{IP: net.IP(g.Addr[:]), Port: g.Port}, nil
	}
	return nil, nil, fmt.Errorf("whipfloor: read mode %q", mode)
}

type netpollReader struct{ c *net.UDPConn }

func (r netpollReader) read(b []byte) (int, error) { n, _, err := r.c.ReadFromUDP(b); return n, err }
func (r netpollReader) close()                     { r.c.Close() }
func (r netpollReader) free()                      {}

// blockReader reads a blocking socket with recvfrom, outside the netpoller.
// close shuts the socket down, which wakes a blocked recvfrom on Linux (it
// returns 0); free closes it.
type blockReader struct {
	fd   int
	once sync.Once
	shut atomic.Bool
}

func (r *blockReader) read(b []byte) (int, error) {
	for {
		n, _, err := syscall.Recvfrom(r.fd, b, 0)
		if r.shut.Load() {
			return 0, net.ErrClosed
		}
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		return n, nil
	}
}

func (r *blockReader) close() {
	r.once.Do(func() {
		r.shut.Store(true)
		syscall.Shutdown(r.fd, syscall.SHUT_RDWR)
	})
}

func (r *blockReader) free() { syscall.Close(r.fd) }

func blockingSocket() (int, error) {
	return syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
}

func openSender(mode string, to []*net.UDPAddr) (sender, error) {
	switch mode {
	case "netpoll":
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return nil, err
		}
		return &netpollSender{c: c, to: to}, nil
	case "block", "mmsg":
		fd, err := blockingSocket()
		if err != nil {
			return nil, err
		}
		s := &blockSender{fd: fd, mmsg: mode == "mmsg"}
		for _, a := range to {
			sa := syscall.RawSockaddrInet4{Family: syscall.AF_INET}
			binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], uint16(a.Port))
			copy(sa.Addr[:], a.IP.To4())
			s.raw = append(s.raw, sa)
			s4 := &syscall.SockaddrInet4{Port: a.Port}
			copy(s4.Addr[:], a.IP.To4())
			s.to = append(s.to, s4)
		}
		s.iov = make([]syscall.Iovec, len(to))
		s.hdrs = make([]mmsghdr, len(to))
		return s, nil
	}
	return nil, fmt.Errorf("whipfloor: write mode %q", mode)
}

type netpollSender struct {
	c  *net.UDPConn
	to []*net.UDPAddr
}

func (s *netpollSender) send(pkts [][]byte) error {
	for i, p := range pkts {
		if _, err := s.c.WriteToUDP(p, s.to[i]); err != nil {
			return err
		}
	}
	return nil
}
func (s *netpollSender) close() { s.c.Close() }

// mmsghdr is struct mmsghdr of linux/amd64 and arm64.
type mmsghdr struct {
	hdr syscall.Msghdr
	n   uint32
	_   [4]byte
}

type blockSender struct {
	fd   int
	mmsg bool
	to   []*syscall.SockaddrInet4
	raw  []syscall.RawSockaddrInet4
	iov  []syscall.Iovec
	hdrs []mmsghdr
}

func (s *blockSender) send(pkts [][]byte) error {
	if !s.mmsg {
		for i, p := range pkts {
			if err := syscall.Sendto(s.fd, p, 0, s.to[i]); err != nil {
				return err
			}
		}
		return nil
	}
	for i, p := range pkts {
		s.iov[i] = syscall.Iovec{Base: &p[0]}
		s.iov[i].SetLen(len(p))
		s.hdrs[i] = mmsghdr{hdr: syscall.Msghdr{
			Name:    (*byte)(unsafe.Pointer(&s.raw[i])),
			Namelen: syscall.SizeofSockaddrInet4,
			Iov:     &s.iov[i],
		}}
		s.hdrs[i].hdr.Iovlen = 1
	}
	for sent := 0; sent < len(pkts); {
		n, _, errno := syscall.Syscall6(unix.SYS_SENDMMSG, uintptr(s.fd),
			uintptr(unsafe.Pointer(&s.hdrs[sent])), uintptr(len(pkts)-sent), 0, 0, 0)
		if errno != 0 {
			if errno == syscall.EINTR {
				continue
			}
			return errno
		}
		sent += int(n)
	}
	return nil
}
func (s *blockSender) close() { syscall.Close(s.fd) }

// Sink reads and drops datagrams on n loopback sockets until ctx ends;
// ready gets their addresses. It returns the datagrams read. With read
// false nobody reads: the sockets' buffers fill and the kernel drops what
// arrives, so a sender on loopback no longer pays for waking a reader and
// queueing for it (the part of a send a network's receiver would pay).
func Sink(ctx context.Context, n int, read bool, ready func([]*net.UDPAddr)) (uint64, error) {
	var conns []*net.UDPConn
	var addrs []*net.UDPAddr
	for range n {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			return 0, err
		}
		conns = append(conns, c)
		addrs = append(addrs, c.LocalAddr().(*net.UDPAddr))
	}
	var got atomic.Uint64
	var wg sync.WaitGroup
	for _, c := range conns {
		if !read {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := make([]byte, 1500)
			for {
				if _, _, err := c.ReadFromUDP(b); err != nil {
					return
				}
				got.Add(1)
			}
		}()
	}
	ready(addrs)
	<-ctx.Done()
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()
	return got.Load(), nil
}

// Send sends the clip (an IVF file of VP8) and the audio packets, paced
// in real time and looped, SRTP-encrypted with Keys(0), to addr until ctx
// ends. It returns the packets sent.
func Send(ctx context.Context, clip string, to *net.UDPAddr) (uint64, error) {
	frames, err := readIVF(clip)
	if err != nil {
		return 0, err
	}
	c, err := net.DialUDP("udp4", nil, to)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	ctxSRTP, err := newContext(0)
	if err != nil {
		return 0, err
	}
	video := rtp.NewPacketizer(mtu, 96, videoSSRC, &codecs.VP8Payloader{}, rtp.NewRandomSequencer(), 90000)
	audio := rtp.NewPacketizer(mtu, 111, audioSSRC, &codecs.OpusPayloader{}, rtp.NewRandomSequencer(), 48000)
	var sent uint64
	out := make([]byte, 0, 1500)
	write := func(pkts []*rtp.Packet) error {
		for _, p := range pkts {
			raw, err := p.Marshal()
			if err != nil {
				return err
			}
			if out, err = ctxSRTP.EncryptRTP(out[:0], raw, nil); err != nil {
				return err
			}
			if _, err := c.Write(out); err != nil {
				return err
			}
			sent++
		}
		return nil
	}
	silence := make([]byte, audioSize)
	start := time.Now()
	nextVideo, nextAudio := start, start
	for i := 0; ; {
		next := nextVideo
		if nextAudio.Before(next) {
			next = nextAudio
		}
		select {
		case <-ctx.Done():
			return sent, nil
		case <-time.After(time.Until(next)):
		}
		now := time.Now()
		if !now.Before(nextVideo) {
			if err := write(video.Packetize(frames[i%len(frames)], 3000)); err != nil {
				return sent, err
			}
			i++
			nextVideo = nextVideo.Add(time.Second / 30)
		}
		if !now.Before(nextAudio) {
			if err := write(audio.Packetize(silence, 960)); err != nil {
				return sent, err
			}
			nextAudio = nextAudio.Add(20 * time.Millisecond)
		}
	}
}

func readIVF(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, _, err := ivfreader.NewWith(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var frames [][]byte
	for {
		fr, _, err := r.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		frames = append(frames, fr)
	}
	if len(frames) == 0 {
		return nil, fmt.Errorf("%s: no frames", path)
	}
	return frames, nil
}
