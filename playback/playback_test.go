package playback

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pion/rtp"
	"go.uber.org/goleak"

	"github.com/videochat/videochat/capture/opus"
	"github.com/videochat/videochat/internal/tonetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestPacketSamples(t *testing.T) {
	for _, c := range []struct {
		name string
		p    []byte
		want int
		bad  bool
	}{
		{"celt 20ms", []byte{0xfc, 1, 2}, 960, false},
		{"silk 10ms", []byte{0x00, 1}, 480, false},
		{"silk 60ms x2", []byte{0x19, 1}, 5760, false},
		{"code 3, 3 frames of 20ms", []byte{0xfb, 0x03, 0}, 2880, false},
		{"code 3 truncated", []byte{0xfb}, 0, true},
		{"code 3 zero frames", []byte{0xfb, 0x00}, 0, true},
		{"code 3, 49 frames: > 120 ms", []byte{0xfb, 0x31}, 0, true},
		{"empty", nil, 0, true},
	} {
		n, err := packetSamples(c.p)
		if (err != nil) != c.bad || n != c.want {
			t.Errorf("%s: got %d, %v; want %d, bad=%v", c.name, n, err, c.want, c.bad)
		}
	}
}

// TestPlaysTone: a clean stream is decoded by libopus into the tone that
// was sent, with nothing concealed and a playout delay of about a frame.
func TestPlaysTone(t *testing.T) {
	s := newSim()
	st := addStream(t, s.m, "a")
	defer st.Close()
	s.run(t, 3*time.Second, map[*Stream][]scheduled{st: steady(t, newToneSender(t, 440), 150, nil)})
	played := s.out[Rate/2 : Rate*5/2]
	if g := toneShare(played, 440); g < 0.8 {
		t.Errorf("440 Hz holds %.2f of the power, want ≥ 0.8", g)
	}
	if r := tonetest.RMS(played); r < 0.15 {
		t.Errorf("rms %.3f, want ≈ 0.21 (a 0.3 sine)", r)
	}
	stats := s.m.Stats()[0]
	t.Logf("stats: %+v", stats)
	if stats.ConcealedSamples != 0 || stats.DroppedLate != 0 || stats.Underruns != 0 {
		t.Errorf("clean stream: concealed %d, late %d, underruns %d", stats.ConcealedSamples, stats.DroppedLate, stats.Underruns)
	}
	delay := stats.JitterBufferDelay / float64(stats.JitterBufferEmittedCount)
	if delay <= 0 || delay > 0.045 {
		t.Errorf("mean playout delay %.1f ms, want (0, 45] on a jitter-free network", delay*1000)
	}
	if l := s.m.Levels(); len(l) != 1 || l[0].RMS < 0.15 || l[0].DBFS() > 0 {
		t.Errorf("levels %+v", l)
	}
}

// TestLossFECAndPLC: a single lost packet is recovered from the next
// packet's in-band FEC; a burst is concealed; the tone goes on.
func TestLossFECAndPLC(t *testing.T) {
	s := newSim()
	st := addStream(t, s.m, "a")
	defer st.Close()
	feed := steady(t, newToneSender(t, 440), 150, nil)
	var kept []scheduled
	for i, f := range feed {
		lost := i%10 == 5 || i == 100 || i == 101 || i == 102
		if !lost {
			kept = append(kept, f)
		}
	}
	s.run(t, 3*time.Second, map[*Stream][]scheduled{st: kept})
	stats := s.m.Stats()[0]
	t.Logf("stats: %+v", stats)
	if stats.FECSamples < 10*960 {
		t.Errorf("FEC recovered %d samples, want ≥ 10 frames", stats.FECSamples)
	}
	if stats.ConcealedSamples < 2*960 || stats.ConcealedSamples > 6*960 {
		t.Errorf("concealed %d samples, want the 2 frames FEC cannot reach (3-frame burst) and little more", stats.ConcealedSamples)
	}
	if g := toneShare(s.out[Rate/2:Rate*5/2], 440); g < 0.7 {
		t.Errorf("440 Hz holds %.2f of the power with loss, want ≥ 0.7", g)
	}
}

// TestJitterAdapts: the target delay follows the measured jitter up and,
// once the network calms down, back down; late packets are few.
func TestJitterAdapts(t *testing.T) {
	s := newSim()
	st := addStream(t, s.m, "a")
	defer st.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	src := newToneSender(t, 440)
	feed := steady(t, src, 300, func(i int) time.Duration {
		if i < 250 {
			return time.Duration(rng.IntN(60)) * time.Millisecond // 0–60 ms of jitter
		}
		return 0
	})
	s.run(t, 5*time.Second, map[*Stream][]scheduled{st: feed})
	jittery := s.m.Stats()[0]
	t.Logf("after jitter: %+v", jittery)
	if jittery.TargetDelayMillis < 50 {
		t.Errorf("target %.0f ms under 0–60 ms jitter, want ≥ 50", jittery.TargetDelayMillis)
	}
	if c := float64(jittery.ConcealedSamples) / float64(jittery.TotalSamples); c > 0.05 {
		t.Errorf("concealed %.1f%% under jitter, want ≤ 5%% once adapted", 100*c)
	}
	// 10 more seconds of a calm network: the window forgets the jitter, the
	// buffer drains (accelerate) towards the new target.
	calm := steady(t, src, 500, nil)
	for i := range calm {
		calm[i].at += 6 * time.Second
	}
	s2 := map[*Stream][]scheduled{st: calm}
	s.run(t, 16*time.Second, s2)
	calmSt := s.m.Stats()[0]
	t.Logf("after calm: %+v", calmSt)
	if calmSt.TargetDelayMillis > 30 {
		t.Errorf("target %.0f ms after 10 s of no jitter, want ≤ 30", calmSt.TargetDelayMillis)
	}
	if calmSt.RemovedSamples == 0 {
		t.Error("the buffer never accelerated down to the smaller target")
	}
}

// TestBadInput: corrupt, truncated, empty, oversized, foreign-codec,
// duplicate and flooded packets on one stream are dropped or concealed and
// counted; the other stream's tone plays on untouched, and the bad stream's
// buffer stays bounded.
func TestBadInput(t *testing.T) {
	s := newSim()
	good := addStream(t, s.m, "good")
	defer good.Close()
	bad := addStream(t, s.m, "bad")
	defer bad.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	src := newToneSender(t, 1000)
	var badFeed []scheduled
	for i := range 200 {
		at := time.Duration(i) * 20 * time.Millisecond
		p := src.next(t)
		switch i % 8 {
		case 1: // corrupt: random bytes behind a valid TOC
			pl := make([]byte, 80)
			for k := range pl {
				pl[k] = byte(rng.Uint32())
			}
			pl[0] = 0xfc
			p.Payload = pl
		case 2: // truncated: code 3 without its frame count
			p.Payload = []byte{0xfb}
		case 3: // codec switch: another payload type
			p.PayloadType = 0
		case 4: // empty and oversized
			p.Payload = nil
			big := *p
			big.Payload = make([]byte, 5000)
			badFeed = append(badFeed, scheduled{at: at, pkt: &big})
		case 5: // duplicate
			dup := *p
			badFeed = append(badFeed, scheduled{at: at, pkt: &dup})
		case 6: // flood: 200 packets with random timestamps
			for range 200 {
				f := *p
				f.Timestamp = rng.Uint32()
				f.SequenceNumber = uint16(rng.Uint32())
				badFeed = append(badFeed, scheduled{at: at, pkt: &f})
			}
		}
		badFeed = append(badFeed, scheduled{at: at, pkt: p})
	}
	s.run(t, 4*time.Second, map[*Stream][]scheduled{
		good: steady(t, newToneSender(t, 440), 200, nil),
		bad:  badFeed,
	})
	var gs, bs StreamStats
	for _, x := range s.m.Stats() {
		if x.PeerID == "good" {
			gs = x
		} else {
			bs = x
		}
	}
	t.Logf("bad: %+v", bs)
	if bs.DroppedMalformed == 0 || bs.DroppedCodec == 0 || bs.DroppedDuplicate == 0 || bs.DroppedOverflow+bs.DroppedLate == 0 {
		t.Errorf("bad stream: every kind of bad packet should be counted: %+v", bs)
	}
	if bs.DecodeErrors+bs.ConcealedSamples == 0 {
		t.Errorf("corrupt payloads were neither refused by the decoder nor concealed: %+v", bs)
	}
	if gs.ConcealedSamples != 0 || gs.Underruns != 0 {
		t.Errorf("good stream suffered: %+v", gs)
	}
	bad.mu.Lock()
	n := len(bad.jb.pkts)
	bad.mu.Unlock()
	if n > maxPackets {
		t.Errorf("bad stream buffers %d packets, bound is %d", n, maxPackets)
	}
	if g := toneShare(s.out[Rate:Rate*3], 440); g < 0.3 {
		t.Errorf("good stream's 440 Hz holds %.2f of the mix's power, want ≥ 0.3", g)
	}
}

// TestSenderTimeNow maps what is heard to the sender's clock through its
// sender report, the hand-off time and the output latency.
func TestSenderTimeNow(t *testing.T) {
	s := newSim()
	st := addStream(t, s.m, "a")
	defer st.Close()
	if _, ok := s.m.SenderTimeNow("a"); ok {
		t.Fatal("ok before anything played")
	}
	src := newToneSender(t, 440)
	senderEpoch := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC) // sender clock at RTP ts src.ts
	st.SenderReport(senderEpoch, src.ts)
	s.run(t, time.Second, map[*Stream][]scheduled{st: steady(t, src, 50, nil)})
	s.m.SetLatency(30 * time.Millisecond)

	got, ok := s.m.SenderTimeNow("a")
	if !ok {
		t.Fatal("not ok while playing")
	}
	// What was last handed over: the anchor's media time at the last Read.
	st.mu.Lock()
	a := st.anchor
	st.mu.Unlock()
	heardMedia := time.Duration(a.ts-int64(int32(0)))*0 + time.Duration(int32(uint32(a.ts)-0xffff0000))*time.Second/Rate
	want := senderEpoch.Add(heardMedia + s.clock.t.Sub(a.at) - 30*time.Millisecond)
	if d := got.Sub(want); d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("SenderTimeNow %v, want %v (off by %v)", got, want, d)
	}
	// The media time heard now is about 1 s of play minus the playout delay
	// and the latency.
	heard := got.Sub(senderEpoch)
	if heard < 850*time.Millisecond || heard > time.Second {
		t.Errorf("heard sender time +%v after 1 s of a 5 ms network, want ≈ +0.9 s", heard)
	}
	if lag := s.m.Stats()[0].HeardLagMillis; math.Abs(lag-float64(s.clock.t.Sub(got))/1e6) > 1 {
		t.Errorf("stats' heard lag %.1f ms, want now − SenderTimeNow = %v", lag, s.clock.t.Sub(got))
	}
	if _, ok := s.m.SenderTimeNow("other"); ok {
		t.Error("ok for an unknown peer")
	}
	// The sender stops: after the concealment limit, no more sync.
	s.run(t, time.Second, nil)
	if _, ok := s.m.SenderTimeNow("a"); ok {
		t.Error("still ok a second after the audio stopped")
	}
}

// TestChurn: streams come and go while the mixer is pulled from another
// goroutine; nothing is left behind (goleak in TestMain, Inputs, and every
// decoder freed).
func TestChurn(t *testing.T) {
	m := NewMixer(MixerConfig{})
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]int16, 480)
		for {
			select {
			case <-stop:
				return
			default:
				m.Read(buf)
				time.Sleep(time.Millisecond) // a device period, shortened; not a wait for an event
			}
		}
	}()
	var all []*Stream
	for round := range 20 {
		var streams []*Stream
		for k := range 3 {
			st := addStream(t, m, string(rune('a'+k)))
			streams = append(streams, st)
			all = append(all, st)
		}
		src := newToneSender(t, 440)
		for range 10 {
			for _, st := range streams {
				st.WriteRTP(src.next(t))
			}
		}
		for _, st := range streams {
			st.SenderReport(time.Now(), 0)
			st.Close()
		}
		if n := m.Inputs(); n != 0 {
			t.Fatalf("round %d: %d inputs left after closing all", round, n)
		}
	}
	close(stop)
	<-done
	for _, st := range all {
		st.Close() // idempotent
		if _, err := st.dec.Decode(nil, make([]int16, 960), false); !errors.Is(err, opus.ErrClosed) {
			t.Fatalf("a decoder was not freed: Decode after Close = %v", err)
		}
		st.WriteRTP(&rtp.Packet{Header: rtp.Header{PayloadType: 111}, Payload: []byte{0xfc, 0}}) // after Close: ignored
	}
}

// TestFlushAfterStall: when the device stops pulling for a while (PulseAudio
// starting up) and the network keeps delivering, the buffer does not keep
// the backlog as delay: it drops it at once and plays near its target.
func TestFlushAfterStall(t *testing.T) {
	s := newSim()
	st := addStream(t, s.m, "a")
	defer st.Close()
	src := newToneSender(t, 440)
	s.run(t, time.Second, map[*Stream][]scheduled{st: steady(t, src, 50, nil)})
	// 800 ms of packets arrive while nobody reads.
	for range 40 {
		s.clock.t = s.clock.t.Add(20 * time.Millisecond)
		st.WriteRTP(src.next(t))
	}
	before := s.m.Stats()[0]
	feed := steady(t, src, 100, nil)
	s.run(t, 2*time.Second, map[*Stream][]scheduled{st: feed})
	after := s.m.Stats()[0]
	t.Logf("after the stall: %+v", after)
	if removed := after.RemovedSamples - before.RemovedSamples; removed < 20*960 {
		t.Errorf("removed %d samples after an 800 ms backlog, want most of it", removed)
	}
	// The delay of the last second's playout is near the target again.
	st.mu.Lock()
	level := st.jb.span(st.next)
	st.mu.Unlock()
	if lvl := time.Duration(level) * time.Second / Rate; lvl > 100*time.Millisecond {
		t.Errorf("still %v buffered after the flush", lvl)
	}
}
