package signal

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/wstest"

	"github.com/videochat/videochat/signal/proto"
)

// The benchmarks drive an in-process Server with raw WebSocket clients:
// hand-made handshakes, pre-encoded masked frames written straight to the
// socket and frames parsed by hand, so that the client side costs little
// and allocates nothing per message. What they report is therefore mostly
// the server's own cost (plus the clients' syscalls):
//
//	go test -run '^$' -bench 'Relay|IdleConns' -benchmem ./signal/
//	go test -run '^$' -bench Relay -cpu 1 -cpuprofile /tmp/relay.prof ./signal/

// rawPeer is a benchmark client on a bare TCP connection.
type rawPeer struct {
	nc  net.Conn
	br  *bufio.Reader
	id  string
	hdr [8]byte // frame header scratch, here so that reading allocates nothing
}

// dialRawPeer connects to room with a hand-written WebSocket handshake
// and joins as name.
func dialRawPeer(addr, room, name string) (*rawPeer, error) {
	nc, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		return nil, err
	}
	_ = nc.SetDeadline(time.Now().Add(ioTimeout))
	req := "GET /ws/" + room + " HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	p := &rawPeer{nc: nc, br: bufio.NewReaderSize(nc, 512)}
	if err := p.handshake(req, name); err != nil {
		nc.Close()
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	return p, nil
}

func (p *rawPeer) handshake(req, name string) error {
	if _, err := io.WriteString(p.nc, req); err != nil {
		return err
	}
	status, err := p.br.ReadString('\n')
	if err != nil || !strings.Contains(status, " 101 ") {
		return fmt.Errorf("handshake: %q %v", status, err)
	}
	for {
		line, err := p.br.ReadString('\n')
		if err != nil {
			return err
		}
		if line == "\r\n" {
			break
		}
	}
	join := proto.Encode(proto.Message{Type: proto.TypeJoin, Version: proto.Version, Name: name})
	if _, err := p.nc.Write(wstest.ClientFrame(nil, join)); err != nil {
		return err
	}
	_, payload, err := p.readFrame(nil)
	if err != nil {
		return err
	}
	var w proto.Message
	if err := json.Unmarshal(payload, &w); err != nil || w.Type != proto.TypeWelcome {
		return fmt.Errorf("join answered with %s (%v)", payload, err)
	}
	p.id = w.ID
	return nil
}

// readFrame reads one unmasked server frame into buf.
func (p *rawPeer) readFrame(buf []byte) (op byte, payload []byte, err error) {
	hdr := p.hdr[:2]
	if _, err := io.ReadFull(p.br, hdr); err != nil {
		return 0, nil, err
	}
	op = hdr[0] & 0x0f
	n := uint64(hdr[1] & 0x7f)
	switch n {
	case 126:
		ext := p.hdr[2:4]
		if _, err := io.ReadFull(p.br, ext); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(ext))
	case 127:
		ext := p.hdr[:8]
		if _, err := io.ReadFull(p.br, ext); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(ext)
	}
	if uint64(cap(buf)) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	_, err = io.ReadFull(p.br, buf)
	return op, buf, err
}

// benchServer starts a server without limits that get in a benchmark's
// way; stop shuts it down (it is also a cleanup).
func benchServer(b testing.TB, cfg Config) (srv *Server, addr string, stop func()) {
	b.Helper()
	cfg.MessageRate, cfg.MaxConnsPerIP, cfg.MaxRooms = Unlimited, Unlimited, Unlimited
	cfg.Logger = slog.New(slog.DiscardHandler)
	ts := startTestServer(b, cfg)
	var once sync.Once
	stop = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
			defer cancel()
			_ = ts.Shutdown(ctx)
			ts.http.Close()
		})
	}
	b.Cleanup(stop)
	return ts.Server, strings.TrimPrefix(ts.http.URL, "http://"), stop
}

// joinRawRooms connects peers in rooms of size and returns them by room.
func joinRawRooms(b testing.TB, addr string, peers, size int) [][]*rawPeer {
	b.Helper()
	var rooms [][]*rawPeer
	for i := 0; i < peers; i += size {
		var room []*rawPeer
		for j := range min(size, peers-i) {
			p, err := dialRawPeer(addr, fmt.Sprintf("bench-%d", i/size), fmt.Sprintf("P%d", j))
			if err != nil {
				b.Fatalf("peer %d: %v", i+j, err)
			}
			b.Cleanup(func() { p.nc.Close() })
			room = append(room, p)
		}
		rooms = append(rooms, room)
	}
	return rooms
}

// BenchmarkRelay relays b.N directed candidates between 1,000 peers in
// rooms of 5, each peer sending to the next one in its room, with at most
// 512 messages in flight. ns/op is the wall time per relayed message on
// the CPUs given (-cpu 1 puts server and clients on one core).
func BenchmarkRelay(b *testing.B) {
	const peers, size, window = 1000, 5, 512
	_, addr, _ := benchServer(b, Config{})
	rooms := joinRawRooms(b, addr, peers, size)
	var all []*rawPeer
	frames := map[*rawPeer][]byte{}
	for _, room := range rooms {
		for i, p := range room {
			to := room[(i+1)%len(room)]
			m := proto.Message{Type: proto.TypeCandidate, To: to.id, Candidate: &proto.ICECandidate{
				Candidate: "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host", SDPMid: new("0")}}
			frames[p] = wstest.ClientFrame(nil, proto.Encode(m))
			all = append(all, p)
		}
	}
	drainJoins(b, rooms)

	credits := make(chan struct{}, window)
	for range window {
		credits <- struct{}{}
	}
	var received sync.WaitGroup
	received.Add(b.N)
	readers := startRelayReaders(all, credits, &received)
	b.ResetTimer()
	const shards = 4
	var senders sync.WaitGroup
	for s := range shards {
		senders.Go(func() {
			n := b.N / shards
			if s == 0 {
				n += b.N % shards
			}
			for i := 0; i < n; i++ {
				p := all[(i*shards+s)%len(all)]
				<-credits
				if _, err := p.nc.Write(frames[p]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	senders.Wait()
	received.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
	for _, p := range all {
		p.nc.Close()
	}
	readers.Wait()
}

// drainJoins reads the peer-joined frames every peer got while its room
// filled.
func drainJoins(b testing.TB, rooms [][]*rawPeer) {
	b.Helper()
	for _, room := range rooms {
		for i, p := range room {
			for range len(room) - 1 - i {
				if _, payload, err := p.readFrame(nil); err != nil || !bytes.Contains(payload, []byte(proto.TypePeerJoined)) {
					b.Fatalf("want peer-joined, got %s (%v)", payload, err)
				}
			}
		}
	}
}

// startRelayReaders reads every peer's frames until its connection closes;
// each relayed candidate returns a credit and counts as received.
func startRelayReaders(all []*rawPeer, credits chan<- struct{}, received *sync.WaitGroup) *sync.WaitGroup {
	var wg sync.WaitGroup
	prefix := []byte(`{"type":"candidate"`)
	for _, p := range all {
		wg.Go(func() {
			buf := make([]byte, 0, 512)
			for {
				op, payload, err := p.readFrame(buf)
				if err != nil {
					return
				}
				buf = payload[:0]
				if op == 1 && bytes.HasPrefix(payload, prefix) {
					credits <- struct{}{}
					received.Done()
				}
			}
		})
	}
	return &wg
}

// BenchmarkIdleConns connects and joins 2,000 peers in rooms of 5 and
// reports the process's heap and stack in use per idle peer (after two
// GCs), and goroutines per peer. The figures include the clients' own
// sockets (a few hundred bytes per peer); RSS of a separate server process
// is what `videochat bench signal` measures.
func BenchmarkIdleConns(b *testing.B) {
	const peers, size = 2000, 5
	for range b.N {
		b.StopTimer()
		before, stackBefore := memInUse()
		goroutines := runtime.NumGoroutine()
		b.StartTimer()
		srv, addr, stop := benchServer(b, Config{})
		rooms := joinRawRooms(b, addr, peers, size)
		b.StopTimer()
		drainJoins(b, rooms)
		if st := srv.Stats(); st.Conns != peers {
			b.Fatalf("%d connections, want %d", st.Conns, peers)
		}
		after, stackAfter := memInUse()
		b.ReportMetric(float64(after-before)/peers, "B/peer")
		b.ReportMetric(float64(stackAfter-stackBefore)/peers, "stack-B/peer")
		b.ReportMetric(float64(runtime.NumGoroutine()-goroutines)/peers, "goroutines/peer")
		for _, room := range rooms {
			for _, p := range room {
				p.nc.Close()
			}
		}
		stop()
		b.StartTimer()
	}
}

// memInUse is heap plus stacks in use after two collections, and the
// stacks alone.
func memInUse() (total, stacks uint64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse, ms.StackInuse
}
