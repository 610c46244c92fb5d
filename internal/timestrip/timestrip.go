// Package timestrip writes a capture time into a picture as a strip of
// black and white blocks, and reads it back from a decoded picture, for
// glass-to-glass latency measurements (sender and receiver share a clock:
// same machine).
//
// Layout: the top-left corner holds 2 guard blocks (white, black) and then
// 32 blocks, most significant bit first, of the capture time in
// milliseconds since the Unix epoch modulo 2³². Blocks are square, w/40
// pixels (at least 4), on even coordinates so that 4:2:0 chroma lines up.
// Block centres survive lossy coding at ordinary bitrates.
package timestrip

import (
	"image"
	"time"
)

const bits = 32

// blockSize is the side of one block for a picture w pixels wide.
func blockSize(w int) int { return max(w/40, 4) &^ 1 }

// Fits reports whether a picture of this size can hold the strip.
func Fits(w, h int) bool {
	b := blockSize(w)
	return (bits+2)*b <= w && b <= h
}

// Draw writes t into img.
func Draw(img *image.YCbCr, t time.Time) {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	if !Fits(w, h) {
		return
	}
	ms := uint32(t.UnixMilli())
	b := blockSize(w)
	for i := 0; i < bits+2; i++ {
		var on bool
		switch i {
		case 0:
			on = true
		case 1:
			on = false
		default:
			on = ms>>(bits-1-(i-2))&1 == 1
		}
		y := byte(16)
		if on {
			y = 235
		}
		for r := 0; r < b; r++ {
			row := img.Y[r*img.YStride+i*b:]
			for c := 0; c < b; c++ {
				row[c] = y
			}
		}
		for r := 0; r < b/2; r++ {
			for c := 0; c < b/2; c++ {
				img.Cb[r*img.CStride+i*b/2+c] = 128
				img.Cr[r*img.CStride+i*b/2+c] = 128
			}
		}
	}
}

// Read returns the time in img's strip, taken as the instant nearest to
// now with those low 32 bits of milliseconds; ok is false when the guard
// blocks are not there.
func Read(img *image.YCbCr, now time.Time) (time.Time, bool) {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	if !Fits(w, h) {
		return time.Time{}, false
	}
	b := blockSize(w)
	luma := func(i int) int {
		sum := 0
		for r := b / 4; r < b-b/4; r++ {
			for c := b / 4; c < b-b/4; c++ {
				sum += int(img.Y[(img.Rect.Min.Y+r)*img.YStride+img.Rect.Min.X+i*b+c])
			}
		}
		return sum / ((b - 2*(b/4)) * (b - 2*(b/4)))
	}
	hi, lo := luma(0), luma(1)
	if hi-lo < 100 {
		return time.Time{}, false
	}
	mid := (hi + lo) / 2
	var ms uint32
	for i := 0; i < bits; i++ {
		ms <<= 1
		if luma(i+2) > mid {
			ms |= 1
		}
	}
	nowMs := now.UnixMilli()
	d := int64(int32(uint32(nowMs) - ms)) // now − t, within ±24 days
	return time.UnixMilli(nowMs - d), true
}
