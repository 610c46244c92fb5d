package callbench

import (
	"encoding/json"
	"testing"
)

// TestRampedUp: the link estimates of a --stats-json line are read, and a
// sender counts as ramped up only with every expected link near the
// ceiling.
func TestRampedUp(t *testing.T) {
	line := `{"time":"2026-12-04T21:36:59Z","peers":[` +
		`{"name":"r1","state":"connected","video":{"frames_received":0},"bytes_sent":823284,"target_bitrate":142318,"estimate_bitrate":142318},` +
		`{"name":"r2","state":"connected","video":{"frames_received":0},"bytes_sent":234619,"target_bitrate":999354,"estimate_bitrate":1000000}]}`
	var s nativeStats
	if err := json.Unmarshal([]byte(line), &s); err != nil {
		t.Fatal(err)
	}
	c := s.counters()
	if len(c.Estimates) != 2 || c.Estimates[0] != 142318 || c.Estimates[1] != 1000000 {
		t.Fatalf("estimates %v, want [142318 1000000]", c.Estimates)
	}
	for _, tc := range []struct {
		est  []int
		n    int
		want bool
	}{
		{[]int{142318, 1_000_000}, 2, false},
		{[]int{950_000, 1_000_000}, 2, true},
		{[]int{950_000}, 2, false}, // the second link is not there yet
		{[]int{900_000}, 1, true},
		{[]int{0}, 1, false}, // unknown
	} {
		if got := rampedUp(counters{Estimates: tc.est}, tc.n, 1_000_000); got != tc.want {
			t.Errorf("rampedUp(%v, %d links) = %v, want %v", tc.est, tc.n, got, tc.want)
		}
	}
}
