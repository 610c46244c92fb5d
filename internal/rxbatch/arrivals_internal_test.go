package rxbatch

import (
	"sync"
	"testing"
	"time"
)

func rtpDatagram(ssrc uint32, seq uint16) []byte {
	b := make([]byte, 20)
	b[0], b[1] = 0x80, 96
	b[2], b[3] = byte(seq>>8), byte(seq)
	b[8], b[9], b[10], b[11] = byte(ssrc>>24), byte(ssrc>>16), byte(ssrc>>8), byte(ssrc)
	return b
}

// TestArrivalsBounded: the table keeps the latest arrivalSlots packets of
// a stream and forgets older ones (no growth), and only RTP is recorded.
func TestArrivalsBounded(t *testing.T) {
	a := &Arrivals{}
	const ssrc = 0xabcdef01
	total := 3 * arrivalSlots
	for i := range total {
		a.recordBatch([][]byte{rtpDatagram(ssrc, uint16(i))}, []int64{int64(i + 1)})
	}
	for i := total - arrivalSlots; i < total; i++ {
		if got, ok := a.Lookup(ssrc, uint16(i)); !ok || got.UnixNano() != int64(i+1) {
			t.Fatalf("seq %d: %v %v; want %d", i, got.UnixNano(), ok, i+1)
		}
	}
	// seq numbers wrap at 65536; 3×8192 = 24576 < 65536, so these are
	// older packets whose slots newer ones took.
	for i := range total - arrivalSlots {
		if got, ok := a.Lookup(ssrc, uint16(i)); ok && got.UnixNano() == int64(i+1) {
			t.Fatalf("seq %d still found after %d newer packets", i, total-i)
		}
	}
	if _, ok := a.Lookup(ssrc+1, uint16(total-1)); ok {
		t.Fatal("found a packet of an SSRC never recorded")
	}
	stun := rtpDatagram(7, 1)
	stun[0] = 0x00
	rtcp := rtpDatagram(8, 1)
	rtcp[1] = 200 // sender report
	a.recordBatch([][]byte{stun, rtcp}, []int64{1, 1})
	for _, s := range []uint32{7, 8} {
		if _, ok := a.Lookup(s, 1); ok {
			t.Fatalf("ssrc %d: a non-RTP datagram was recorded", s)
		}
	}
}

// TestArrivalsConcurrent: writers and readers at once (for -race).
func TestArrivalsConcurrent(t *testing.T) {
	a := &Arrivals{}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 5000 {
				a.recordBatch([][]byte{rtpDatagram(uint32(w), uint16(i))}, []int64{time.Now().UnixNano()})
				a.Lookup(uint32(3-w), uint16(i))
			}
		})
	}
	wg.Wait()
	a.recordBatch([][]byte{rtpDatagram(9, 9)}, []int64{9})
	if got, ok := a.Lookup(9, 9); !ok || got.UnixNano() != 9 {
		t.Fatal("the table lost a packet after concurrent use")
	}
}
