package playback

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/videochat/videochat/internal/pulsetest"
	"github.com/videochat/videochat/internal/tonetest"
)

// TestSpeakerClock: SenderTimeNow, which the video of a peer follows for
// lip sync, names what the speaker plays at that moment. A stream sent in
// real time, with a sender report mapping its RTP time to the sender's
// clock, beeps on every second of that clock; the sink's monitor, recorded
// with the time of each sample (pulsetest.RecordTimed), has each beep's
// onset when SenderTimeNow said that second was being heard, within
// 20 ms (median over the beeps; the numbers are logged).
func TestSpeakerClock(t *testing.T) {
	srv := pulsetest.Start(t, pulsetest.Sink{Name: "spk", Channels: 1})
	srv.Setenv(t)
	p, err := New(Config{Speaker: "spk"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	st, err := p.AddStream(Track{PeerID: "a", PeerName: "a", PayloadType: 111})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	waitPulling(t, p.Mixer)
	rec := srv.RecordTimed("spk", Rate)

	enc, err := NewEncoder(32000, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	// The sender's clock: packet k was captured at start + k × 20 ms (its
	// first sample); a beep starts with every 50th packet.
	const ts0 = uint32(0xfff00000)
	start := time.Now().Add(40 * time.Millisecond)
	st.SenderReport(start, ts0)
	pcm := make([]int16, Rate/50)
	var lags []time.Duration // now − SenderTimeNow
	const packets = 50 * 8
	for k := range packets {
		for i := range pcm {
			n := k*len(pcm) + i
			amp := 0.05
			if n%Rate < Rate*3/10 {
				amp = 0.3
			}
			pcm[i] = int16(amp * math.MaxInt16 * math.Sin(2*math.Pi*440*float64(n)/Rate))
		}
		payload, err := enc.Encode(pcm)
		if err != nil {
			t.Fatal(err)
		}
		// Sent when captured in full, as a microphone's sender does; the
		// clock is sampled meanwhile, every 5 ms.
		due := start.Add(time.Duration(k+1) * 20 * time.Millisecond)
		for now := time.Now(); now.Before(due); now = time.Now() {
			time.Sleep(min(5*time.Millisecond, due.Sub(now))) // pacing a real-time sender
			if s, ok := p.SenderTimeNow("a"); ok {
				lags = append(lags, time.Since(s))
			}
		}
		st.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: uint16(k),
			Timestamp: ts0 + uint32(k*len(pcm)), SSRC: 1}, Payload: payload})
	}
	time.Sleep(500 * time.Millisecond) // the tail still plays: a time to wait, not an event
	if len(lags) == 0 {
		t.Fatal("SenderTimeNow never known")
	}
	lag := median(lags)
	rec.Latency()
	x, clock := rec.Snapshot()
	var errs []time.Duration
	for _, i := range tonetest.Onsets(x, 440, Rate, 0.12, Rate/2) {
		out := clock.At(i)
		second := start.Add(out.Sub(start).Truncate(time.Second)) // the beep's sender time, given a lag < 1 s
		if out.Sub(start) < time.Second {
			continue // the first beep may have been cut by the jitter buffer's start
		}
		errs = append(errs, out.Sub(second)-lag)
	}
	if len(errs) < 4 {
		t.Fatalf("only %d beeps recorded in 8 s", len(errs))
	}
	e := median(errs)
	t.Logf("heard lag by SenderTimeNow %.1f ms (device latency assumed %.1f ms); beeps out %.1f ms after that (median of %d, from %.1f to %.1f ms); record latency %.1f ms",
		ms(lag), ms(p.Latency()), ms(e), len(errs), ms(slices.Min(errs)), ms(slices.Max(errs)), ms(rec.Latency()))
	if e < -20*time.Millisecond || e > 20*time.Millisecond {
		t.Errorf("the speaker plays %.1f ms off what SenderTimeNow says is heard", ms(e))
	}
}

func median(x []time.Duration) time.Duration {
	s := slices.Clone(x)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
