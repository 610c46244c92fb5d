package timestrip

import (
	"image"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	img := image.NewYCbCr(image.Rect(0, 0, 640, 480), image.YCbCrSubsampleRatio420)
	for i := range img.Y {
		img.Y[i] = byte(i * 7)
	}
	at := time.UnixMilli(1_780_000_123_456)
	Draw(img, at)
	got, ok := Read(img, at.Add(40*time.Millisecond))
	if !ok || !got.Equal(at) {
		t.Fatalf("read %v %v, want %v", got, ok, at)
	}
	blank := image.NewYCbCr(image.Rect(0, 0, 640, 480), image.YCbCrSubsampleRatio420)
	if _, ok := Read(blank, at); ok {
		t.Fatal("read a time from a picture without a strip")
	}
}
