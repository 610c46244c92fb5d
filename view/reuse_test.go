package view_test

import (
	"errors"
	"fmt"
	"image"
	"testing"

	"github.com/videochat/videochat/view"
	"github.com/videochat/videochat/view/internal/vtest"
)

// TestPicturesReused: with a renderer calling Tiles after each frame, a
// steady stream is decoded into a few pictures used over and over, and
// each picture Tiles returns holds the frame it stands for (alternating
// colours), not a later one written over it.
func TestPicturesReused(t *testing.T) {
	v := view.New(view.Config{})
	tr := openTrack(t, v, "p1", "alice", codecVP8)
	defer tr.sink.Close()
	enc := vtest.NewEncoder(t, codecVP8.MimeType, 160, 120)
	pk := vtest.NewPacketizer(codecVP8.MimeType, ptVP8)
	colours := [2][3]int{{81, 90, 240}, {145, 54, 34}}
	seen := map[*image.YCbCr]bool{}
	var seq uint64
	const frames = 24
	for i := 0; i < frames; i++ {
		c := colours[i%2]
		tr.write(pk.Packets(enc.Encode(t, vtest.Solid(160, 120, byte(c[0]), byte(c[1]), byte(c[2])), i == 0)))
		waitFor(t, "the next frame shown", func() error {
			tl, ok := tileOf(v, "p1")
			if !ok || tl.Frame == nil || tl.Seq == seq {
				return errors.New("not yet")
			}
			seq = tl.Seq
			seen[tl.Frame] = true
			// The newest frame is shown (the view shows each at once
			// without an audio clock); it must hold its own colour.
			y, cb, cr := colourAt(tl.Frame, 80, 60)
			if !near(y, c[0], 8) || !near(cb, c[1], 8) || !near(cr, c[2], 8) {
				t.Fatalf("frame %d shows (%d,%d,%d), want (%d,%d,%d)", i, y, cb, cr, c[0], c[1], c[2])
			}
			return nil
		})
	}
	if len(seen) > frames/2 {
		t.Errorf("%d distinct pictures for %d frames: pictures are not reused", len(seen), frames)
	}
	if s := v.Stats().Total; s.FramesDecoded != frames {
		t.Errorf("%d frames decoded, want %d", s.FramesDecoded, frames)
	}
}

// TestDecodingIndependentOfRenderer: decoding never waits for the
// renderer. With no call of Tiles at all (a renderer that polls slowly, or
// is stuck in a present), every frame of a stream is still decoded, none
// is dropped before decoding, and the next call of Tiles shows the newest
// one.
func TestDecodingIndependentOfRenderer(t *testing.T) {
	v := view.New(view.Config{})
	tr := openTrack(t, v, "p1", "alice", codecVP8)
	defer tr.sink.Close()
	enc := vtest.NewEncoder(t, codecVP8.MimeType, 160, 120)
	pk := vtest.NewPacketizer(codecVP8.MimeType, ptVP8)
	colours := [2][3]int{{81, 90, 240}, {145, 54, 34}}
	const frames = 40 // more than the spare pictures and the tile's queue
	for i := 0; i < frames; i++ {
		c := colours[i%2]
		tr.write(pk.Packets(enc.Encode(t, vtest.Solid(160, 120, byte(c[0]), byte(c[1]), byte(c[2])), i == 0)))
		waitFor(t, "the frame decoded without a renderer", func() error {
			if n := v.Stats().Total.FramesDecoded; n != int64(i+1) {
				return fmt.Errorf("%d frames decoded, want %d", n, i+1)
			}
			return nil
		})
	}
	s := v.Stats().Total
	if s.FramesIncomplete+s.FramesWaitKey+s.DecodeErrors != 0 {
		t.Errorf("frames dropped before decoding: %+v", s)
	}
	tl, ok := tileOf(v, "p1")
	if !ok || tl.Frame == nil {
		t.Fatal("no frame shown")
	}
	c := colours[(frames-1)%2]
	if y, cb, cr := colourAt(tl.Frame, 80, 60); !near(y, c[0], 8) || !near(cb, c[1], 8) || !near(cr, c[2], 8) {
		t.Errorf("shows (%d,%d,%d), want the newest frame's (%d,%d,%d)", y, cb, cr, c[0], c[1], c[2])
	}
}
