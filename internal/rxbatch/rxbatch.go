// Package rxbatch coalesces UDP reads: a pion transport.Net whose sockets
// hand datagrams to their reader in batches, read with one recvmmsg every
// Period while traffic flows, instead of one wake-up per datagram.
//
// Why: pion passes each received packet across four goroutines (ICE read
// loop → DTLS/SRTP mux → SRTP read loop → track reader). On a process that
// is idle between packets each hand-off wakes a thread (and the runtime's
// sysmon), which is about half of a forwarding server's CPU per packet
// (BENCHMARKS.md, "WHIP and WHEP forwarding"). The hope: when the ICE read
// loop gets several datagrams at once, every goroutine downstream wakes
// once per batch and drains its buffer. Measured on the WHIP server
// ("Third round: coalesced reads") it did not lower the CPU per packet at
// 5–20 ms (more at 5 ms): the server already woke about once per burst,
// a timer wake-up costs as much as a network one, and with two Ps the
// batch is handed on packet by packet. So serve leaves it off by default.
// On the native viewer (join --read-batch, 10 ms by default), which gets
// two video and two audio streams on separate sockets and does cgo work
// per frame, it did help: context switches 4,630 → 2,010 a second and
// ≈ 13 % less CPU ("Remote video view", second follow-up), for ≈ 4 ms
// more glass-to-glass latency at p50.
//
// How reads are scheduled (Linux; rxbatch_linux.go). Reads happen on a
// grid of instants Period apart. While datagrams keep arriving the reader
// sleeps to the next grid instant, then takes everything queued on the
// socket (recvmmsg, MSG_DONTWAIT, up to batchLen at a time). After
// IdleAfter without a datagram it stops ticking and blocks in the
// netpoller; the first datagram wakes it, and it reads at the next grid
// instant (at most Period later). No goroutine of its own: the reader's
// goroutine sleeps.
//
// Arrival times: each socket has SO_TIMESTAMPNS on, and every datagram
// that looks like RTP (RFC 7983: first byte 128–191, not an RTCP packet
// type) has its kernel receive time written to the Net's Arrivals table,
// keyed by the SSRC and sequence number that SRTP leaves in the clear.
// A TWCC feedback recorder looks the packet up there
// (peer.TWCCFeedbackConfig.Arrival), so the sender's congestion control
// sees when packets reached the host, not when the batch was read.
// Arrival times are wall-clock (CLOCK_REALTIME, as time.Now's wall part).
//
// Invariants:
//   - no datagram is lost, duplicated or reordered by the batching: each
//     read returns the oldest datagram not yet returned (a datagram longer
//     than the reader's buffer is truncated, as a plain UDP read does; the
//     batch slots are as large as pion ICE's own read buffer, 8192 bytes);
//   - the added delay of a datagram is at most Period (plus scheduling);
//   - Close unblocks a blocked read promptly, sleeping or in the
//     netpoller, and later reads fail with net.ErrClosed;
//   - no goroutine is started: a read sleeps on its caller's goroutine;
//   - the Arrivals table has a fixed size (arrivalSlots entries; a newer
//     packet overwrites an older one whose slot it shares), is safe for
//     concurrent use, and is shared by all conns of one Net;
//   - no package-level mutable state;
//   - Period 0, another OS, or an inner conn without syscall.Conn: the
//     inner conn is returned unchanged and Arrivals stays empty (Lookup
//     reports !ok, and callers use time.Now, right for unbatched reads).
package rxbatch

import (
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/pion/transport/v5"
)

// DefaultIdleAfter is how long a socket must receive nothing before its
// reads block in the netpoller instead of ticking every Period.
const DefaultIdleAfter = 100 * time.Millisecond

// Config tunes a Net.
type Config struct {
	// Period is how long reads are coalesced; 0 = no coalescing (the
	// inner conns, plain reads).
	Period time.Duration
	// IdleAfter: see DefaultIdleAfter (0 = that). Values below Period
	// are raised to Period.
	IdleAfter time.Duration
	// Logger receives a debug line when a socket cannot be batched.
	Logger *slog.Logger
}

// Net is a transport.Net whose UDP sockets coalesce reads.
type Net struct {
	transport.Net
	cfg Config
	arr *Arrivals
}

// NewNet wraps inner. Its ListenUDP returns conns whose reads serve
// datagrams from batches read every Period while traffic flows, and block
// in the netpoller (no polling) after the socket has been idle for
// IdleAfter. Conns whose inner conn does not expose syscall.Conn are
// returned unchanged. Only ListenUDP is wrapped (ICE's host candidates and
// UDP muxes use it).
func NewNet(inner transport.Net, cfg Config) *Net {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.IdleAfter <= 0 {
		cfg.IdleAfter = DefaultIdleAfter
	}
	cfg.IdleAfter = max(cfg.IdleAfter, cfg.Period)
	return &Net{Net: inner, cfg: cfg, arr: &Arrivals{}}
}

// ListenUDP opens a socket of the inner Net and wraps it (see NewNet).
func (n *Net) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil || n.cfg.Period <= 0 {
		return c, err
	}
	return n.wrap(c), nil
}

// Arrivals is the table of kernel receive times of this Net's conns.
func (n *Net) Arrivals() *Arrivals { return n.arr }

// arrivalSlots is the size of the Arrivals table (a power of two). An
// entry is looked up a few ms after it is written (Period plus the
// pipeline), so 8192 covers thousands of packets per ms of lag.
const arrivalSlots = 1 << 13

type arrival struct {
	key  uint64 // 1<<48 | ssrc<<16 | seq; 0 = empty
	nano int64  // Unix nanoseconds
}

// Arrivals maps (SSRC, RTP sequence number) to the kernel receive time of
// recent RTP packets. Direct-mapped: consecutive sequence numbers of one
// SSRC take consecutive slots.
type Arrivals struct {
	mu    sync.Mutex
	slots [arrivalSlots]arrival
}

func arrivalKey(ssrc uint32, seq uint16) (key uint64, slot int) {
	return 1<<48 | uint64(ssrc)<<16 | uint64(seq), int((ssrc*2654435761 + uint32(seq)) & (arrivalSlots - 1))
}

// Lookup returns the kernel receive time of the RTP packet (ssrc, seq), if
// it is still in the table.
func (a *Arrivals) Lookup(ssrc uint32, seq uint16) (t time.Time, ok bool) {
	if a == nil {
		return time.Time{}, false
	}
	key, i := arrivalKey(ssrc, seq)
	a.mu.Lock()
	e := a.slots[i]
	a.mu.Unlock()
	if e.key != key {
		return time.Time{}, false
	}
	return time.Unix(0, e.nano), true
}

// recordBatch stores the arrival of every RTP datagram of a batch under one
// lock.
func (a *Arrivals) recordBatch(msgs [][]byte, nanos []int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, b := range msgs {
		if ssrc, seq, ok := rtpID(b); ok {
			key, s := arrivalKey(ssrc, seq)
			a.slots[s] = arrival{key: key, nano: nanos[i]}
		}
	}
}

// rtpID reads SSRC and sequence number from a datagram that is RTP (not
// STUN, DTLS, TURN channel data or RTCP; RFC 7983 and RFC 5761).
func rtpID(b []byte) (ssrc uint32, seq uint16, ok bool) {
	if len(b) < 12 || b[0] < 128 || b[0] > 191 {
		return 0, 0, false
	}
	if pt := b[1] & 0x7f; pt >= 64 && pt <= 95 { // RTCP 192–223
		return 0, 0, false
	}
	return uint32(b[8])<<24 | uint32(b[9])<<16 | uint32(b[10])<<8 | uint32(b[11]), uint16(b[2])<<8 | uint16(b[3]), true
}
