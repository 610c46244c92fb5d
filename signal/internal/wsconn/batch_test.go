package wsconn

import (
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// tcpPair returns the two ends of a loopback TCP connection, the first
// wrapped in a batchConn as the server's hijacked connection would be
// after the handshake.
func tcpPair(t *testing.T) (*batchConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	bc := &batchConn{Conn: server, pool: newBufferPool(), ws: writeState{framed: true}}
	bc.raw, err = server.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return bc, client
}

// readN reads exactly n bytes from c.
func readN(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(ioTimeout)); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	return b
}

func TestTryWriteFrames(t *testing.T) {
	bc, client := tcpPair(t)
	for _, tt := range []struct {
		n      int
		header []byte
	}{
		{0, []byte{0x81, 0}},
		{125, []byte{0x81, 125}},
		{126, []byte{0x81, 126, 0, 126}},
		{65535, []byte{0x81, 126, 0xff, 0xff}},
		{65536, []byte{0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
	} {
		payload := make([]byte, tt.n)
		for i := range payload {
			payload[i] = byte('a' + i%26)
		}
		done, err := bc.tryWrite(payload)
		if err != nil {
			t.Fatalf("%d bytes: %v", tt.n, err)
		}
		rest := 0
		if !done { // the socket took only part: the rest waits for a flush
			rest = len(*bc.buf)
			if err := bc.flush(); err != nil {
				t.Fatal(err)
			}
		}
		got := readN(t, client, len(tt.header)+tt.n)
		if string(got[:len(tt.header)]) != string(tt.header) || string(got[len(tt.header):]) != string(payload) {
			t.Fatalf("%d bytes: got header % x, want % x (payload equal: %v)", tt.n,
				got[:len(tt.header)], tt.header, string(got[len(tt.header):]) == string(payload))
		}
		t.Logf("%d bytes: whole in one write: %v (left %d)", tt.n, done, rest)
	}
}

// A write deadline left by the writer's last batch does not stop a direct
// write, which never waits.
func TestTryWriteStaleDeadline(t *testing.T) {
	bc, client := tcpPair(t)
	if err := bc.Conn.SetWriteDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if done, err := bc.tryWrite([]byte("hi")); !done || err != nil {
		t.Fatalf("tryWrite = %v, %v; want the frame written", done, err)
	}
	if got := readN(t, client, 4); string(got) != "\x81\x02hi" {
		t.Fatalf("got %q", got)
	}
}

// After gorilla writes a close frame no data frame may follow it, and
// after abort nothing is written.
func TestTryWriteRefusals(t *testing.T) {
	bc, client := tcpPair(t)
	closeFrame := []byte{0x88, 2, 0x03, 0xe8}
	if _, err := bc.Write(closeFrame); err != nil {
		t.Fatal(err)
	}
	if _, err := bc.tryWrite([]byte("late")); !errors.Is(err, websocket.ErrCloseSent) {
		t.Fatalf("tryWrite after a close frame: %v, want ErrCloseSent", err)
	}
	bc.Conn.Close() // so that the client reads to the end of what was sent
	if err := client.SetReadDeadline(time.Now().Add(ioTimeout)); err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(client); err != nil || string(got) != string(closeFrame) {
		t.Fatalf("client read % x, %v; want the close frame only", got, err)
	}

	bc2, _ := tcpPair(t)
	bc2.abort()
	if _, err := bc2.tryWrite([]byte("x")); !errors.Is(err, errAborted) {
		t.Fatalf("tryWrite after abort: %v, want errAborted", err)
	}
}
