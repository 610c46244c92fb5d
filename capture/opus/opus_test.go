package opus

import (
	"errors"
	"math"
	"testing"
)

// TestRoundTripFECAndClose: a tone survives encode/decode, a lost frame is
// recovered from the next packet's in-band FEC, and a closed coder refuses
// work with ErrClosed.
func TestRoundTripFECAndClose(t *testing.T) {
	enc, err := NewEncoder(EncoderConfig{Channels: 1, Bitrate: 32000, LossPercent: 20})
	if err != nil {
		t.Fatal(err)
	}
	if fec, loss, dtx := enc.Settings(); !fec || loss != 20 || dtx {
		t.Fatalf("settings = fec %v loss %d dtx %v, want true 20 false", fec, loss, dtx)
	}
	dec, err := NewDecoder(1)
	if err != nil {
		t.Fatal(err)
	}
	const frame = Rate / 50
	pcm := make([]int16, frame)
	out := make([]byte, 1500)
	var pkts [][]byte
	for i := range 50 {
		for j := range pcm {
			pcm[j] = int16(8000 * math.Sin(2*math.Pi*440*float64(i*frame+j)/Rate))
		}
		n, err := enc.EncodeInt16(pcm, out)
		if err != nil {
			t.Fatal(err)
		}
		pkts = append(pkts, append([]byte(nil), out[:n]...))
	}
	got := make([]int16, frame)
	var energy float64
	for i, p := range pkts {
		fec := i == 40 // frame 40 is lost: recover it from packet 41
		if fec {
			continue
		}
		if i == 41 {
			if _, err := dec.Decode(p, got, true); err != nil {
				t.Fatalf("FEC decode: %v", err)
			}
			for _, s := range got {
				energy += float64(s) * float64(s)
			}
		}
		if n, err := dec.Decode(p, got, false); err != nil || n != frame {
			t.Fatalf("packet %d: %d samples, %v", i, n, err)
		}
	}
	if rms := math.Sqrt(energy / frame); rms < 2000 {
		t.Errorf("recovered frame rms %.0f, want the tone (~5600)", rms)
	}
	enc.Close()
	dec.Close()
	enc.Close() // idempotent
	if _, err := enc.EncodeInt16(pcm, out); !errors.Is(err, ErrClosed) {
		t.Errorf("encode after Close: %v", err)
	}
	if _, err := dec.Decode(pkts[0], got, false); !errors.Is(err, ErrClosed) {
		t.Errorf("decode after Close: %v", err)
	}
}
