package whipfloor

import (
	"context"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media/ivfwriter"
)

// writeClip writes an IVF file of frames VP8-like payloads (the forwarder
// never parses them).
func writeClip(t *testing.T, frames int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "clip.ivf")
	w, err := ivfwriter.New(path, ivfwriter.WithCodec("video/VP8"))
	if err != nil {
		t.Fatal(err)
	}
	p := &codecsVP8{}
	for i := range frames {
		for _, pkt := range p.packets(i, 3000) {
			if err := w.WriteRTP(pkt); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// codecsVP8 makes the RTP packets of one VP8 frame of n bytes (the
// payload descriptor: S bit on the first packet, marker on the last).
type codecsVP8 struct{ seq uint16 }

func (c *codecsVP8) packets(frame, n int) []*rtp.Packet {
	var out []*rtp.Packet
	for off := 0; off < n; off += 1000 {
		end := min(off+1000, n)
		payload := make([]byte, 1+end-off)
		if off == 0 {
			payload[0] = 0x10
		}
		payload[1] = byte(frame)
		c.seq++
		out = append(out, &rtp.Packet{
			Header:  rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: c.seq, Timestamp: uint32(frame * 3000), Marker: end == n},
			Payload: payload,
		})
	}
	return out
}

// TestForwardEveryShape: in every read/write/handoff shape, each receiver
// gets the publisher's packets re-encrypted with its own key and with its
// own SSRC, and nothing fails to decrypt.
func TestForwardEveryShape(t *testing.T) {
	clip := writeClip(t, 10)
	for _, shape := range []struct {
		read, write string
		handoffs    int
	}{{"block", "block", 0}, {"netpoll", "netpoll", 0}, {"netpoll", "block", 3}, {"block", "mmsg", 0}, {"block", "mmsg", 2}} {
		t.Run(shape.read+"-"+shape.write, func(t *testing.T) {
			const n = 3
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var rx []*net.UDPConn
			var addrs []*net.UDPAddr
			for range n {
				c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				rx = append(rx, c)
				addrs = append(addrs, c.LocalAddr().(*net.UDPAddr))
			}
			fctx, fstop := context.WithCancel(ctx)
			ready := make(chan *net.UDPAddr, 1)
			var c Counts
			var wg sync.WaitGroup
			wg.Add(1)
			var ferr error
			go func() {
				defer wg.Done()
				ferr = Forward(fctx, ForwardConfig{Listen: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, Receivers: addrs,
					Read: shape.read, Write: shape.write, Handoffs: shape.handoffs, Ready: func(a *net.UDPAddr) { ready <- a }}, &c)
			}()
			var at *net.UDPAddr
			select {
			case at = <-ready:
			case <-ctx.Done():
				t.Fatal("forwarder not ready")
			}
			sctx, sstop := context.WithCancel(ctx)
			wg.Add(1)
			go func() { defer wg.Done(); _, _ = Send(sctx, clip, at) }()

			for i, conn := range rx {
				dec, err := newContext(i + 1)
				if err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 1500)
				video, audio := 0, 0
				for video < 5 || audio < 5 {
					conn.SetReadDeadline(time.Now().Add(10 * time.Second))
					k, err := conn.Read(buf)
					if err != nil {
						t.Fatalf("receiver %d: %v after %d video, %d audio packets", i, err, video, audio)
					}
					var h rtp.Header
					if _, err := dec.DecryptRTP(nil, buf[:k], &h); err != nil {
						t.Fatalf("receiver %d: %v", i, err)
					}
					switch h.SSRC {
					case videoSSRC + uint32(i+1)<<24:
						video++
					case audioSSRC + uint32(i+1)<<24:
						audio++
					default:
						t.Fatalf("receiver %d: SSRC %#x", i, h.SSRC)
					}
				}
			}
			sstop()
			fstop()
			wg.Wait()
			if ferr != nil && ferr != context.Canceled {
				t.Fatal(ferr)
			}
			if c.Bad.Load() != 0 || c.Received.Load() == 0 {
				t.Fatalf("received %d, bad %d", c.Received.Load(), c.Bad.Load())
			}
		})
	}
}
