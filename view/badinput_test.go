package view_test

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/pion/rtp"

	"github.com/videochat/videochat/view"
	"github.com/videochat/videochat/view/internal/vtest"
)

// Bad input: every case ends dropped, resized or concealed with a counter,
// never a crash, and the stream recovers with the next key frame.

func TestBadInputCorruptAndTruncated(t *testing.T) {
	for _, c := range []struct {
		mime string
		pt   uint8
	}{{"video/VP8", ptVP8}, {"video/H264", ptH264}} {
		t.Run(c.mime, func(t *testing.T) {
			v := view.New(view.Config{})
			codec := codecVP8
			if c.pt == ptH264 {
				codec = codecH264
			}
			tr := openTrack(t, v, "p1", "mallory", codec)
			defer tr.sink.Close()
			enc := vtest.NewEncoder(t, c.mime, 320, 240)
			pk := vtest.NewPacketizer(c.mime, c.pt)
			tr.write(pk.Packets(enc.Encode(t, vtest.Solid(320, 240, 145, 54, 34), true)))
			waitColour(t, v, "p1", 320, 240, 145, 54, 34)

			rng := rand.New(rand.NewPCG(1, 2))
			for i := 0; i < 300; i++ {
				pkts := pk.Packets(enc.Encode(t, vtest.Solid(320, 240, 145, 54, 34), i%50 == 0))
				for _, p := range pkts {
					switch i % 4 {
					case 0: // flipped bytes
						for j := 0; j < 4 && len(p.Payload) > 0; j++ {
							p.Payload[rng.IntN(len(p.Payload))] ^= byte(rng.IntN(255) + 1)
						}
					case 1: // truncated
						p.Payload = p.Payload[:rng.IntN(len(p.Payload)+1)]
					case 2: // garbage
						junk := make([]byte, rng.IntN(1400))
						for j := range junk {
							junk[j] = byte(rng.Uint32())
						}
						p.Payload = junk
					}
				}
				tr.write(pkts)
			}
			s := v.Stats().Total
			t.Logf("after 300 damaged frames: %+v", s)
			if s.DecodeErrors+s.BadPackets+s.FramesIncomplete+s.FramesWaitKey == 0 {
				t.Fatal("damage went uncounted")
			}
			// A clean key frame brings the picture back.
			tr.write(pk.Packets(enc.Encode(t, vtest.Solid(320, 240, 41, 240, 110), true)))
			waitColour(t, v, "p1", 320, 240, 41, 240, 110)
		})
	}
}

// TestBadInputCodecSwitch: the remote switches from VP8 to H.264 (another
// negotiated payload type) mid-stream; an unknown payload type is dropped.
func TestBadInputCodecSwitch(t *testing.T) {
	v := view.New(view.Config{})
	tr := openTrack(t, v, "p1", "alice", codecVP8, codecH264)
	defer tr.sink.Close()
	vp8 := vtest.NewEncoder(t, "video/VP8", 320, 240)
	h264 := vtest.NewEncoder(t, "video/H264", 320, 240)
	pk := vtest.NewPacketizer("video/VP8", ptVP8)
	tr.write(pk.Packets(vp8.Encode(t, vtest.Solid(320, 240, 145, 54, 34), true)))
	waitColour(t, v, "p1", 320, 240, 145, 54, 34)
	pk.SetCodec("video/H264", ptH264)
	tr.write(pk.Packets(h264.Encode(t, vtest.Solid(320, 240, 81, 90, 240), true)))
	waitColour(t, v, "p1", 320, 240, 81, 90, 240)
	pk.SetCodec("video/VP8", 99) // never negotiated
	tr.write(pk.Packets(vp8.Encode(t, vtest.Solid(320, 240, 41, 240, 110), true)))
	s := v.Stats()
	if s.Total.CodecSwitches != 1 || s.Total.UnknownPT == 0 || s.Peers["p1"].Codec != "video/h264" {
		t.Fatalf("stats %+v", s)
	}
}

// TestBadInputResolutionAnd4K: size changes follow the stream; a 4K
// stream is shown halved to fit 1920×1080 (counted); a key frame claiming
// a picture above the decoder's limit is refused before decoding.
func TestBadInputResolutionAnd4K(t *testing.T) {
	v := view.New(view.Config{})
	tr := openTrack(t, v, "p1", "alice", codecVP8)
	defer tr.sink.Close()
	pk := vtest.NewPacketizer("video/VP8", ptVP8)
	for _, sz := range [][2]int{{320, 240}, {640, 360}, {3840, 2160}} {
		enc := vtest.NewEncoder(t, "video/VP8", sz[0], sz[1])
		tr.write(pk.Packets(enc.Encode(t, vtest.Solid(sz[0], sz[1], 145, 54, 34), true)))
		w, h := sz[0], sz[1]
		if w > 1920 {
			w, h = w/2, h/2
		}
		waitColour(t, v, "p1", w, h, 145, 54, 34)
	}
	// A VP8 key frame header claiming 16383×16383.
	huge := []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0xff, 0x3f, 0xff, 0x3f, 0, 0, 0, 0, 0, 0}
	tr.write(pk.Packets(huge))
	waitFor(t, "counters", func() error {
		s := v.Stats().Total
		if s.ResolutionChanges < 2 || s.Resized < 1 || s.TooLarge < 1 {
			return fmt.Errorf("%+v", s)
		}
		return nil
	})
}

// TestBadInputFlood: a flood of packets far faster than decoding is
// dropped (counted) with bounded memory, and the picture survives.
func TestBadInputFlood(t *testing.T) {
	v := view.New(view.Config{})
	tr := openTrack(t, v, "p1", "flood", codecVP8)
	defer tr.sink.Close()
	enc := vtest.NewEncoder(t, "video/VP8", 1280, 720)
	pk := vtest.NewPacketizer("video/VP8", ptVP8)
	img := vtest.Solid(1280, 720, 145, 54, 34)
	for i := range img.Y {
		img.Y[i] = byte(rand.IntN(200) + 20)
	}
	key := enc.Encode(t, img, true)
	tr.write(pk.Packets(key))
	waitFor(t, "first frame", func() error {
		if _, ok := tileOf(v, "p1"); !ok || v.Stats().Total.FramesDecoded == 0 {
			return fmt.Errorf("none yet")
		}
		return nil
	})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var pkts []*rtp.Packet
	for i := 0; i < 2000; i++ { // 2000 key frames ≈ 67 s of video, sent at once
		pkts = pk.Packets(key)
		tr.write(pkts)
		if i%200 == 0 {
			runtime.ReadMemStats(&after)
			if grow := int64(after.HeapAlloc) - int64(before.HeapAlloc); grow > 256<<20 {
				t.Fatalf("heap grew by %d MiB during the flood", grow>>20)
			}
		}
	}
	s := v.Stats().Total
	t.Logf("flood: %+v", s)
	if s.FramesOverflow == 0 {
		t.Fatal("a flood of 2000 frames dropped none")
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grow := int64(after.HeapAlloc) - int64(before.HeapAlloc); grow > 64<<20 {
		t.Fatalf("heap grew by %d MiB after the flood", grow>>20)
	}
}
