package playback

import (
	"slices"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/pulsetest"
	"github.com/videochat/videochat/internal/tonetest"
)

// TestSpeakerPlaysToPulse: a Player on a PulseAudio null sink plays a
// stream's tone; recording the sink's monitor with parecord holds it.
// Speakers lists the sink by its PulseAudio name.
func TestSpeakerPlaysToPulse(t *testing.T) {
	srv := pulsetest.Start(t, pulsetest.Sink{Name: "other"}, pulsetest.Sink{Name: "spk"})
	srv.Setenv(t)

	devs, err := Speakers(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("speakers: %+v", devs)
	if !slices.ContainsFunc(devs, func(d Device) bool { return d.ID == "spk" && d.Kind == KindSpeaker }) {
		t.Fatalf("Speakers() = %+v, want the sink spk", devs)
	}
	if _, err := New(Config{Speaker: "no-such-sink"}); err == nil {
		t.Fatal("an unknown speaker opened")
	}

	p, err := New(Config{Speaker: "spk"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Output() != "spk" {
		t.Errorf("Output() = %q", p.Output())
	}
	st, err := p.AddStream(Track{PeerID: "a", PeerName: "a", PayloadType: 111})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	rec := srv.Record("spk", Rate)

	// PulseAudio here takes about 2 s to start draining a low-latency
	// stream on a null sink: wait until the device pulls in real time.
	waitPulling(t, p.Mixer)
	// Send 3 s of a 660 Hz tone in real time.
	src := newToneSender(t, 660)
	tick := time.NewTicker(20 * time.Millisecond)
	for range 150 {
		<-tick.C
		st.WriteRTP(src.next(t))
	}
	tick.Stop()
	pcm := rec.Stop()
	share, loud := tonePresence(pcm, 660)
	t.Logf("recorded %.1f s; 660 Hz in %.0f%% of 20 ms windows; stats %+v", float64(len(pcm))/Rate, 100*loud, p.Stats())
	if loud < 0.5 || share < 0.5 {
		t.Errorf("the speaker's monitor lacks the tone: share %.2f, windows %.2f", share, loud)
	}
	if l := p.Levels(); len(l) != 1 || l[0].RMS < 0.1 {
		t.Errorf("levels %+v", l)
	}
	if p.Latency() <= 0 {
		t.Error("no output latency known")
	}
}

// waitPulling waits until the output has pulled 200 ms of audio past
// what it had pulled when called (the device runs).
func waitPulling(t testing.TB, m *Mixer) {
	t.Helper()
	start := m.Pulled()
	deadline := time.Now().Add(20 * time.Second)
	for m.Pulled() < start+Rate/5 {
		if time.Now().After(deadline) {
			t.Fatalf("the output pulled %d samples in 20 s", m.Pulled()-start)
		}
		time.Sleep(10 * time.Millisecond) // polling a counter: there is no event to wait on
	}
}

// tonePresence: over the 20 ms windows with sound, the mean share of freq,
// and the fraction of all windows where freq dominates.
func tonePresence(x []int16, freq float64) (share, frac float64) {
	var n, loud, hits int
	for i := 0; i+960 <= len(x); i += 960 {
		n++
		w := x[i : i+960]
		if tonetest.RMS(w) < 0.01 {
			continue
		}
		g := tonetest.Share(w, freq, Rate)
		share += g
		loud++
		if g > 0.5 {
			hits++
		}
	}
	if loud == 0 {
		return 0, 0
	}
	return share / float64(loud), float64(hits) / float64(max(n, 1))
}
