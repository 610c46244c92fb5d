package playback

import (
	"math"
	"sort"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/videochat/videochat/internal/tonetest"
)

// fakeClock is the mixer's clock in simulated tests.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// toneSender makes real Opus packets of a sine tone, 20 ms each.
type toneSender struct {
	enc  *Encoder
	freq float64
	n    int
	seq  uint16
	ts   uint32
	pt   uint8
}

func newToneSender(t testing.TB, freq float64) *toneSender {
	t.Helper()
	enc, err := NewEncoder(32000, 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(enc.Close)
	return &toneSender{enc: enc, freq: freq, seq: 1000, ts: 0xffff0000, pt: 111} // ts wraps soon
}

func (s *toneSender) next(t testing.TB) *rtp.Packet {
	t.Helper()
	pcm := make([]int16, Rate/50)
	for i := range pcm {
		pcm[i] = int16(0.3 * math.MaxInt16 * math.Sin(2*math.Pi*s.freq*float64(s.n+i)/Rate))
	}
	s.n += len(pcm)
	payload, err := s.enc.Encode(pcm)
	if err != nil {
		t.Fatal(err)
	}
	p := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: s.pt, SequenceNumber: s.seq, Timestamp: s.ts, SSRC: 1}, Payload: payload}
	s.seq++
	s.ts += uint32(len(pcm))
	return p
}

// scheduled is a packet and when it arrives.
type scheduled struct {
	at  time.Duration
	pkt *rtp.Packet
}

// sim runs a mixer on a fake clock: packets arrive at their times, the
// "device" pulls 10 ms every 10 ms; it returns what was played.
type sim struct {
	clock *fakeClock
	m     *Mixer
	out   []int16
}

func newSim() *sim {
	c := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	return &sim{clock: c, m: NewMixer(MixerConfig{Now: c.now})}
}

func (s *sim) run(t testing.TB, dur time.Duration, feeds map[*Stream][]scheduled) {
	t.Helper()
	for _, f := range feeds {
		sort.SliceStable(f, func(i, j int) bool { return f[i].at < f[j].at })
	}
	start := s.clock.t
	buf := make([]int16, Rate/100)
	for el := time.Duration(0); el < dur; el += 10 * time.Millisecond {
		// arrivals within this period, at their own times
		for st, f := range feeds {
			for len(f) > 0 && f[0].at < el+10*time.Millisecond {
				s.clock.t = start.Add(f[0].at)
				st.WriteRTP(f[0].pkt)
				f = f[1:]
			}
			feeds[st] = f
		}
		s.clock.t = start.Add(el + 10*time.Millisecond)
		s.m.Read(buf)
		s.out = append(s.out, buf...)
	}
}

func addStream(t testing.TB, m *Mixer, id string) *Stream {
	t.Helper()
	s, err := m.AddStream(Track{PeerID: id, PeerName: id, PayloadType: 111})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// steady schedules n packets of src every 20 ms after a fixed network delay
// plus jitter(i).
func steady(t testing.TB, src *toneSender, n int, jitter func(i int) time.Duration) []scheduled {
	var out []scheduled
	for i := range n {
		at := time.Duration(i)*20*time.Millisecond + 5*time.Millisecond
		if jitter != nil {
			at += jitter(i)
		}
		out = append(out, scheduled{at: at, pkt: src.next(t)})
	}
	return out
}

// toneShare is goertzel averaged over 20 ms windows, so phase jumps at
// concealed frames do not cancel the tone out.
func toneShare(x []int16, freq float64) float64 {
	var sum float64
	n := 0
	for i := 0; i+960 <= len(x); i += 960 {
		sum += tonetest.Share(x[i:i+960], freq, Rate)
		n++
	}
	return sum / float64(max(n, 1))
}
