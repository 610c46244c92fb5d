package wsconn

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/wstest"

	"github.com/gorilla/websocket"
)

// These tests pin what the tricks assume about gorilla/websocket's
// internals (see the package comment) by driving the real gorilla code. A
// gorilla upgrade that changes any of it fails here.

// recorder is a net.Conn that records each Write call separately, as
// batchConn sees them (it is not a *net.TCPConn, so net.Buffers writes
// each buffer with its own call, as it does to a batchConn).
type recorder struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.writes = append(r.writes, bytes.Clone(p))
	r.mu.Unlock()
	return r.Conn.Write(p)
}

// take returns the writes recorded since the last take, empty ones left out.
func (r *recorder) take() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out [][]byte
	for _, w := range r.writes {
		if len(w) > 0 {
			out = append(out, w)
		}
	}
	r.writes = nil
	return out
}

// recordingHijacker hands gorilla's Upgrader a recorder.
type recordingHijacker struct {
	http.ResponseWriter
	rec *recorder
}

func (h *recordingHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, rw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.rec = &recorder{Conn: nc}
	return h.rec, rw, nil
}

// upgraded is the server end of a connection made by a test, and the
// client's gorilla end.
type upgraded struct {
	server *Conn
	rec    *recorder // gorilla's writes, for gorillaPair only
	client *websocket.Conn
}

// serve dials a WebSocket to a test HTTP server whose handler upgrades
// with upgrade, and returns both ends.
func serve(t *testing.T, upgrade func(http.ResponseWriter, *http.Request) (*Conn, *recorder, error)) upgraded {
	t.Helper()
	got := make(chan upgraded, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, rec, err := upgrade(w, r)
		if err != nil {
			t.Errorf("upgrade: %v", err)
			close(got)
			return
		}
		got <- upgraded{server: c, rec: rec}
	}))
	t.Cleanup(srv.Close)
	d := websocket.Dialer{HandshakeTimeout: ioTimeout}
	client, resp, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	resp.Body.Close()
	u, ok := <-got
	if !ok {
		t.FailNow()
	}
	u.client = client
	t.Cleanup(func() { client.Close(); u.server.Close() })
	return u
}

// tricksPair connects through NewUpgrader (plain or not).
func tricksPair(t *testing.T, plain bool) upgraded {
	up := NewUpgrader(Config{Plain: plain})
	return serve(t, func(w http.ResponseWriter, r *http.Request) (*Conn, *recorder, error) {
		c, err := up.Upgrade(w, r)
		return c, nil, err
	})
}

// gorillaPair connects through gorilla's Upgrader, configured as
// NewUpgrader configures it, over a recorder instead of a batchConn.
func gorillaPair(t *testing.T) upgraded {
	up := NewUpgrader(Config{}).up
	return serve(t, func(w http.ResponseWriter, r *http.Request) (*Conn, *recorder, error) {
		hj := &recordingHijacker{ResponseWriter: w}
		ws, err := up.Upgrade(hj, r, nil)
		if err != nil {
			return nil, nil, err
		}
		hj.rec.take() // the handshake's response
		return &Conn{ws: ws}, hj.rec, nil
	})
}

// TestGorillaTextFrameBytes: a text message gorilla writes is byte for
// byte the frame appendTextFrame builds for TryWrite, whatever its length
// (the three length encodings, and past gorilla's write buffer).
func TestGorillaTextFrameBytes(t *testing.T) {
	u := gorillaPair(t)
	for _, n := range []int{0, 1, 125, 126, writeBufferSize, writeBufferSize + 100, 65535, 65536, 70000} {
		p := bytes.Repeat([]byte("é"), n/2)
		if n%2 == 1 {
			p = append(p, 'x')
		}
		if err := u.server.WriteText(p); err != nil {
			t.Fatal(err)
		}
		got := bytes.Join(u.rec.take(), nil)
		if want := appendTextFrame(nil, p); !bytes.Equal(got, want) {
			t.Fatalf("%d bytes: gorilla wrote %d bytes starting % x, appendTextFrame %d starting % x",
				n, len(got), got[:min(len(got), 12)], len(want), want[:min(len(want), 12)])
		}
	}
}

// TestGorillaWrites: writeState, fed the Writes gorilla makes (whole
// frames, or a header with part of the payload and then the rest of it),
// sees the close frame and only it, and gorilla writes a control frame
// (ping, close) with one Write of the expected bytes.
func TestGorillaWrites(t *testing.T) {
	u := gorillaPair(t)
	ws := writeState{framed: true}
	for _, n := range []int{0, 10, 125, 126, writeBufferSize + 1, 70000} {
		p := []byte(strings.Repeat("∈", n/3+1)[:n]) // e2 88 88: 0x88 everywhere
		if err := u.server.WriteText(p); err != nil {
			t.Fatal(err)
		}
		for i, w := range u.rec.take() {
			if ws.follow(w); ws.closeSent {
				t.Fatalf("%d bytes: write %d (% x…) taken for a close frame", n, i, w[:min(len(w), 4)])
			}
		}
		if ws.hlen != 0 || ws.left != 0 {
			t.Fatalf("%d bytes: writeState %+v after the message, want at a frame boundary", n, ws)
		}
	}
	if err := u.server.WritePing(time.Now().Add(ioTimeout)); err != nil {
		t.Fatal(err)
	}
	if w := u.rec.take(); len(w) != 1 || !bytes.Equal(w[0], []byte{0x89, 0}) || follows(&ws, w[0]) {
		t.Fatalf("ping written as %x, want one write of 89 00", w)
	}
	if err := u.server.WriteClose(CloseGoingAway, "bye", time.Now().Add(ioTimeout)); err != nil {
		t.Fatal(err)
	}
	want := []byte{0x80 | websocket.CloseMessage, 5, 0x03, 0xe9, 'b', 'y', 'e'}
	if w := u.rec.take(); len(w) != 1 || !bytes.Equal(w[0], want) || !follows(&ws, w[0]) {
		t.Fatalf("close written as %x, want one write of % x, seen as a close", w, want)
	}
}

// follows follows p and reports whether a close frame has been seen.
func follows(ws *writeState, p []byte) bool {
	ws.follow(p)
	return ws.closeSent
}

// TestWriteStateSplitHeaders: writeState follows frames however the
// bytes are cut, headers included.
func TestWriteStateSplitHeaders(t *testing.T) {
	var stream []byte
	for _, n := range []int{0, 5, 126, 300, 65536} {
		stream = appendTextFrame(stream, bytes.Repeat([]byte{0x88}, n))
	}
	stream = append(stream, 0x88, 2, 0x03, 0xe8)
	for _, cut := range []int{1, 2, 3, 7, 1000} {
		ws := writeState{framed: true}
		closes := 0
		for off := 0; off < len(stream); off += cut {
			if follows(&ws, stream[off:min(off+cut, len(stream))]) {
				closes++
				ws.closeSent = false
			}
		}
		if closes != 1 || ws.hlen != 0 || ws.left != 0 {
			t.Fatalf("cut %d: %d closes seen, state %+v; want 1, at a boundary", cut, closes, ws)
		}
	}
}

// TestGorillaEchoesCloseFromReader: when the client closes, gorilla's
// reader echoes the close frame with one Write starting 0x88 and reports a
// CloseError; a data write after it fails with ErrCloseSent. Over a
// batchConn that write is TryWrite, which must refuse too.
func TestGorillaEchoesCloseFromReader(t *testing.T) {
	u := gorillaPair(t)
	clientClose(t, u.client)
	_, _, err := u.server.Next()
	if end, _ := Classify(err); end != EndClosed {
		t.Fatalf("Next after the client's close: %v (%v), want EndClosed", err, end)
	}
	if w := u.rec.take(); len(w) != 1 || w[0][0] != 0x88 || !bytes.Equal(w[0][2:4], []byte{0x03, 0xe8}) {
		t.Fatalf("echo written as %x, want one close frame with 1000", w)
	}
	if err := u.server.WriteText([]byte("late")); !IsCloseSent(err) {
		t.Fatalf("WriteText after the echo: %v, want ErrCloseSent", err)
	}

	v := tricksPair(t, false)
	clientClose(t, v.client)
	v.server.Wait()
	_, _, err = v.server.Next()
	if end, _ := Classify(err); end != EndClosed {
		t.Fatalf("Next after the client's close: %v", err)
	}
	if _, err := v.server.TryWrite([]byte("late")); !IsCloseSent(err) {
		t.Fatalf("TryWrite after gorilla's echo: %v, want ErrCloseSent", err)
	}
}

func clientClose(t *testing.T, ws *websocket.Conn) {
	t.Helper()
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	if err := ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(ioTimeout)); err != nil {
		t.Fatal(err)
	}
}

// TestGorillaReadsThroughBatchConn: gorilla reads the hijacked socket
// only through its net.Conn (the batchConn), with a buffer of its own, and
// refuses a client that sends data before the handshake is complete (so
// no frame bytes sit in the HTTP server's buffer, out of batchConn's
// sight).
func TestGorillaReadsThroughBatchConn(t *testing.T) {
	u := tricksPair(t, false)
	if u.server.ws.NetConn() != net.Conn(&u.server.b) {
		t.Fatal("gorilla's net.Conn is not the batchConn")
	}

	up := NewUpgrader(Config{})
	refused := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r)
		if err == nil {
			c.Close()
		}
		refused <- err
	}))
	defer srv.Close()
	nc, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	req := "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	if _, err := nc.Write(append([]byte(req), maskedFrame(0x81, "early")...)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-refused:
		if err == nil {
			t.Fatal("gorilla upgraded a client that sent a frame with its handshake")
		}
	case <-time.After(ioTimeout):
		t.Fatal("no upgrade result")
	}
}

// TestGorillaReadsOneFrameAtATime: with frames arriving together, gorilla
// asks batchConn for the bytes of one frame at a time, so that once the
// reader has a frame's payload, the next frame is still in batchConn
// (Buffered) and not in gorilla's buffer; after the last one nothing is.
func TestGorillaReadsOneFrameAtATime(t *testing.T) {
	u := tricksPair(t, false)
	var burst []byte
	for _, p := range []string{"one", strings.Repeat("two", 100), "three"} {
		burst = append(burst, maskedFrame(0x81, p[:min(len(p), 125)])...)
	}
	if _, err := u.client.NetConn().Write(burst); err != nil {
		t.Fatal(err)
	}
	if err := u.server.SetReadDeadline(time.Now().Add(ioTimeout)); err != nil {
		t.Fatal(err)
	}
	for i, more := range []bool{true, true, false} {
		u.server.Wait()
		mt, r, err := u.server.Next()
		if err != nil || mt != TextMessage {
			t.Fatalf("frame %d: %v, %v", i, mt, err)
		}
		if _, err := io.ReadAll(r); err != nil {
			t.Fatal(err)
		}
		if got := u.server.Buffered(); got != more {
			t.Fatalf("after frame %d: Buffered = %v, want %v", i, got, more)
		}
	}
}

// TestGorillaPongHandler: plain gorilla answers a pong only by running the
// pong handler (it writes nothing), so swallowing a pong below gorilla and
// running the handler instead changes nothing. Both paths run it once per
// pong and deliver the frame after it.
func TestGorillaPongHandler(t *testing.T) {
	g := gorillaPair(t)
	for _, u := range []upgraded{g, tricksPair(t, false), tricksPair(t, true)} {
		pongs := 0
		u.server.SetPongHandler(func(string) error { pongs++; return nil })
		stream := append(maskedFrame(0x8a, "p1"), maskedFrame(0x8a, "")...)
		stream = append(stream, maskedFrame(0x81, "after")...)
		if _, err := u.client.NetConn().Write(stream); err != nil {
			t.Fatal(err)
		}
		if err := u.server.SetReadDeadline(time.Now().Add(ioTimeout)); err != nil {
			t.Fatal(err)
		}
		var got []byte
		for got == nil {
			u.server.Wait()
			mt, r, err := u.server.Next()
			if err != nil {
				t.Fatal(err)
			}
			if mt == PongMessage {
				continue
			}
			if got, err = io.ReadAll(r); err != nil {
				t.Fatal(err)
			}
		}
		if string(got) != "after" || pongs != 2 {
			t.Fatalf("read %q after %d pongs, want \"after\" after 2", got, pongs)
		}
	}
	if w := g.rec.take(); len(w) != 0 {
		t.Fatalf("gorilla wrote %x for two pongs, want nothing", w)
	}
}

// TestGorillaReadErrors: the errors gorilla ends reading with are the
// ones Classify sorts: a message over the read limit (gorilla sends 1009
// itself), the end of the stream without a close frame (a drop), and a
// bad close code (gorilla sends 1002 itself).
func TestGorillaReadErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		send  []byte
		end   End
		close []byte // the close frame gorilla writes, nil for none
	}{
		{"over the read limit", maskedFrame(0x81, strings.Repeat("x", 20)), EndTooLarge, []byte{0x88, 2, 0x03, 0xf1}},
		{"bad close code", maskedFrame(0x88, "\x03\xec"), EndBadClose, nil}, // 1004 is reserved
		{"close", maskedFrame(0x88, "\x03\xe8"), EndClosed, []byte{0x88, 2, 0x03, 0xe8}},
		{"drop", nil, EndDrop, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := gorillaPair(t)
			u.server.SetReadLimit(10)
			if tc.send != nil {
				if _, err := u.client.NetConn().Write(tc.send); err != nil {
					t.Fatal(err)
				}
			} else {
				u.client.NetConn().Close()
			}
			if err := u.server.SetReadDeadline(time.Now().Add(ioTimeout)); err != nil {
				t.Fatal(err)
			}
			var err error
			for err == nil {
				var r io.Reader
				if _, r, err = u.server.Next(); err == nil {
					_, err = io.ReadAll(r)
				}
			}
			if end, _ := Classify(err); end != tc.end {
				t.Fatalf("reading ended with %v, classified %v, want %v", err, end, tc.end)
			}
			w := u.rec.take()
			switch {
			case tc.close != nil && (len(w) != 1 || !bytes.Equal(w[0], tc.close)):
				t.Fatalf("gorilla wrote %x, want % x", w, tc.close)
			case tc.end == EndBadClose && (len(w) != 1 || !bytes.Equal(w[0][:4], []byte{0x88, w[0][1], 0x03, 0xea})):
				t.Fatalf("gorilla wrote %x, want a close frame with 1002", w)
			}
		})
	}
}

// TestPlainGorillaAgrees feeds the same client bytes to a Conn with the
// tricks and to plain gorilla, and compares what the server reads and
// how reading ends. A header that breaks RFC 6455 ends with EndViolation
// on the tricks path (the caller sends 1002) where gorilla sends 1002
// itself; the tricks differ only where they are meant to, on two headers
// that gorilla lets through or answers without a close frame.
func TestPlainGorillaAgrees(t *testing.T) {
	long := strings.Repeat("L", 70000)
	for _, tc := range []struct {
		name   string
		stream []byte
		// tricksViolate: the header checks refuse what gorilla takes.
		tricksViolate bool
	}{
		{name: "texts and pongs", stream: join(maskedFrame(0x81, "a"), maskedFrame(0x8a, "p"), wstest.ClientFrame(nil, []byte(long)), maskedFrame(0x82, "bin"))},
		{name: "fragmented", stream: join(maskedFrame(0x01, "frag"), maskedFrame(0x8a, ""), maskedFrame(0x80, "ment"))},
		{name: "close", stream: join(maskedFrame(0x81, "x"), maskedFrame(0x88, "\x03\xe8bye"))},
		{name: "reserved bits", stream: maskedFrame(0xc1, "x")},
		{name: "unmasked", stream: []byte{0x81, 1, 'x'}},
		{name: "unknown opcode", stream: maskedFrame(0x83, "x")},
		{name: "continuation alone", stream: maskedFrame(0x80, "x")},
		{name: "fragmented ping", stream: maskedFrame(0x09, "x")},
		{name: "close with 1 byte", stream: maskedFrame(0x88, "x"), tricksViolate: true},
		{name: "64-bit length top bit", stream: []byte{0x81, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0}, tricksViolate: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plain := readAll(t, tricksPair(t, true), tc.stream)
			tricks := readAll(t, tricksPair(t, false), tc.stream)
			if tc.tricksViolate {
				if tricks.end != EndViolation {
					t.Fatalf("tricks ended with %v, want EndViolation", tricks.end)
				}
				return
			}
			// Either way the client gets close 1002: from gorilla, or
			// from the caller on EndViolation.
			if plain.end == EndBadClose {
				plain.end = EndViolation
			}
			if plain.msgs != tricks.msgs || plain.end != tricks.end {
				t.Fatalf("plain read %q, ended %v; tricks read %q, ended %v", short(plain.msgs), plain.end, short(tricks.msgs), tricks.end)
			}
		})
	}
}

func join(frames ...[]byte) []byte { return bytes.Join(frames, nil) }

func short(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

type readResult struct {
	msgs string
	end  End
}

// readAll writes stream from the client, then closes its sending side,
// and reads on the server as the signal package's reader does.
func readAll(t *testing.T, u upgraded, stream []byte) readResult {
	t.Helper()
	if _, err := u.client.NetConn().Write(stream); err != nil {
		t.Fatal(err)
	}
	_ = u.client.NetConn().(*net.TCPConn).CloseWrite()
	if err := u.server.SetReadDeadline(time.Now().Add(ioTimeout)); err != nil {
		t.Fatal(err)
	}
	var res readResult
	for {
		u.server.Wait()
		mt, r, err := u.server.Next()
		if err == nil && mt != PongMessage {
			var p []byte
			p, err = io.ReadAll(r)
			res.msgs += string(rune('0'+mt)) + ":" + string(p) + ";"
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("read timed out")
			}
			res.end, _ = Classify(err)
			return res
		}
	}
}

// TestLongTextIsNotAClose: gorilla writes a text message longer than its
// write buffer with two Writes, the second starting in the middle of the
// payload, where a UTF-8 continuation byte 0x88 may lie. That is not a
// close frame: a direct write after it still goes out.
func TestLongTextIsNotAClose(t *testing.T) {
	u := tricksPair(t, false)
	p := []byte(strings.Repeat("∈", 2000)) // e2 88 88: 0x88 at every split
	for split := writeBufferSize; split < writeBufferSize+3; split++ {
		if err := u.server.Begin(time.Now().Add(ioTimeout)); err != nil {
			t.Fatal(err)
		}
		if err := u.server.WriteText(p[:split+100]); err != nil {
			t.Fatal(err)
		}
		if err := u.server.Flush(); err != nil {
			t.Fatal(err)
		}
		if _, err := u.server.TryWrite([]byte("after")); err != nil {
			t.Fatalf("split at %d: TryWrite after a long text: %v", split, err)
		}
	}
}

// FuzzWriteState: whatever the frame lengths and however the Writes cut
// them, writeState sees exactly the one close frame at the end.
func FuzzWriteState(f *testing.F) {
	f.Add([]byte{0, 5, 200, 1, 255}, uint8(3))
	f.Add([]byte{126, 127, 0}, uint8(1))
	f.Fuzz(func(t *testing.T, lens []byte, cut uint8) {
		var stream []byte
		for i, l := range lens[:min(len(lens), 16)] {
			n := min(int(l)<<(i%9), 70000)
			stream = appendTextFrame(stream, bytes.Repeat([]byte{0x88}, n))
		}
		stream = append(stream, 0x88, 0)
		ws := writeState{framed: true}
		step := int(cut%64) + 1
		for off := 0; off < len(stream); off += step {
			if ws.follow(stream[off:min(off+step, len(stream))]); ws.closeSent && off+step < len(stream) {
				t.Fatalf("close seen at %d of %d", off, len(stream))
			}
		}
		if !ws.closeSent || ws.hlen != 0 || ws.left != 0 {
			t.Fatalf("after the stream: %+v, want the close seen, at a boundary", ws)
		}
	})
}
