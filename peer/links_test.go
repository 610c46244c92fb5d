package peer

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

func TestFreezeMeterCountsLongGaps(t *testing.T) {
	var f freezeMeter
	now := time.Unix(0, 0)
	step := func(d time.Duration) { now = now.Add(d); f.frame(now) }
	f.frame(now)
	for range 30 {
		step(33 * time.Millisecond)
	}
	step(150 * time.Millisecond) // over 3 x 33 ms but under 200 ms: not a freeze
	for range 10 {
		step(33 * time.Millisecond)
	}
	step(700 * time.Millisecond) // a freeze
	for range 10 {
		step(33 * time.Millisecond)
	}
	n, total, worst := f.read()
	if n != 1 || total != 700*time.Millisecond || worst != 700*time.Millisecond {
		t.Fatalf("freezes %d, total %v, longest %v; want 1, 700ms, 700ms", n, total, worst)
	}
}

// kinds is a streamKinds for the pacer test: SSRC 2 repairs 1; 9 is audio.
type kinds struct{}

func (kinds) mediaOf(ssrc uint32) (uint32, bool) {
	switch ssrc {
	case 1, 2:
		return 1, false
	case 9:
		return 9, true
	}
	return 0, false
}

// twccExt: every stream of the test carries TWCC as extension 5.
func (kinds) twccExt(uint32) uint8 { return 5 }

// TestPacerNumbersTWCCInSendOrder: packets numbered as they were queued
// (as pion's TWCC interceptor above the pacer numbers them), then audio
// and a retransmission overtaking a queued burst of video, leave with
// transport-wide sequence numbers in the order they are sent, without a
// gap: a receiver's feedback then reports nothing missing. Before, audio
// left with the numbers it was queued with, ahead of the video's, and the
// feedback counted the overtaken video as lost.
func TestPacerNumbersTWCCInSendOrder(t *testing.T) {
	p := newPacer(200_000, kinds{}) // 300 kbit/s: the 30 kB burst takes ~0.8 s
	defer p.Close()
	var mu sync.Mutex
	var seqs []uint16
	var audioSeen bool
	w := interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, _ interceptor.Attributes) (int, error) {
		var ext rtp.TransportCCExtension
		if err := ext.Unmarshal(h.GetExtension(5)); err != nil {
			t.Errorf("SSRC %d: no TWCC extension: %v", h.SSRC, err)
		}
		mu.Lock()
		defer mu.Unlock()
		seqs = append(seqs, ext.TransportSequence)
		audioSeen = audioSeen || h.SSRC == 9
		return len(payload), nil
	})
	p.AddStream(1, w)
	p.AddStream(9, w)
	next := uint16(100) // the numbers given above the pacer
	write := func(ssrc uint32, size int) {
		h := &rtp.Header{Version: 2, SSRC: ssrc}
		b, _ := (&rtp.TransportCCExtension{TransportSequence: next}).Marshal()
		if err := h.SetExtension(5, b); err != nil {
			t.Fatal(err)
		}
		next++
		if _, err := p.Write(h, make([]byte, size), nil); err != nil {
			t.Fatal(err)
		}
	}
	for range 30 {
		write(1, 1000) // a keyframe's worth of video
	}
	write(9, 100)  // audio, queued behind it
	write(2, 1000) // a retransmission
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(seqs)
		mu.Unlock()
		if n == 32 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 32 packets sent", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("transport-wide sequence numbers in sending order %v: not consecutive at %d", seqs, i)
		}
	}
}

// TestPacerSendsRTXAndAudioFirst: retransmissions (an SSRC the pacer was
// not given) go out through their media stream's writer, and audio and
// retransmissions queued behind a burst of video go out before it; the
// rate is held.
func TestPacerSendsRTXAndAudioFirst(t *testing.T) {
	p := newPacer(200_000, kinds{}) // paced at 300 kbit/s
	defer p.Close()
	var mu sync.Mutex
	var order []uint32
	var bytes int
	w := interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, _ interceptor.Attributes) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, h.SSRC)
		bytes += len(payload)
		return len(payload), nil
	})
	p.AddStream(1, w)
	p.AddStream(9, w)
	// sent is how many packets had gone out: a slow (loaded) writer lets
	// the pacer send some video before the RTX and audio are queued, and
	// those do not count against them.
	sent := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(order)
	}
	start := time.Now()
	payload := make([]byte, 1000)
	var sentBeforeRTX, sentBeforeAudio int
	for i := range 40 { // 40 kB of video: about 1 s at 300 kbit/s
		ssrc := uint32(1)
		if i == 39 {
			ssrc = 2 // an RTX packet
			sentBeforeRTX = sent()
		}
		if _, err := p.Write(&rtp.Header{SSRC: ssrc, SequenceNumber: uint16(i)}, payload, nil); err != nil {
			t.Fatal(err)
		}
	}
	sentBeforeAudio = sent()
	if _, err := p.Write(&rtp.Header{SSRC: 9}, payload[:100], nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(order)
		mu.Unlock()
		if n == 41 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 41 packets sent", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	took := time.Since(start)
	mu.Lock()
	defer mu.Unlock()
	audioAt := -1
	for i, s := range order {
		if s == 9 {
			audioAt = i
		}
	}
	// One packet may be in the pacer's hands as the write comes.
	if audioAt < 0 || audioAt > max(10, sentBeforeAudio+1) {
		t.Errorf("audio sent as packet %d (%d sent before it was queued), want among the first (before the queued video)", audioAt, sentBeforeAudio)
	}
	rtxAt := slices.Index(order, 2)
	if rtxAt < 0 || rtxAt > max(12, sentBeforeRTX+1) {
		t.Errorf("RTX packet sent as packet %d (%d sent before it was queued), want among the first (before queued video): %v", rtxAt, sentBeforeRTX, order)
	}
	t.Logf("40 kB of video paced at 300 kbit/s in %v", took)
	if took < 300*time.Millisecond {
		t.Errorf("40 kB sent in %v: not paced", took)
	}
}

// TestEstimatorUnderRandomLoss: loss above the link's usual level holds
// the loss-based target (a new 5 % at first), over 10 % cuts it; steady
// 5 % loss, once it is the link's usual loss, raises it again, so a
// target cut by a burst recovers on a link that always loses a little
// (before: held there for good, and the ramp with it); a clean link
// raises it too.
func TestEstimatorUnderRandomLoss(t *testing.T) {
	e, err := newEstimator(500_000, 80_000, 1_000_000, kinds{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	now := time.Unix(100, 0)
	window := func(got, lost int) { // five reports like this one; the last closes the window
		for range 5 {
			now = now.Add(lossWindow / 5)
			e.addLoss(got, lost, now)
		}
	}
	e.mu.Lock()
	e.lossTarget = 500_000
	e.mu.Unlock()
	read := func() int {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.lossTarget
	}
	signal := func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.lossSignal(e.lastLoss)
	}
	e.addLoss(0, 0, now) // opens the first window
	for range 3 {
		window(19, 1)
	}
	if got := read(); got != 500_000 || !signal() {
		t.Errorf("a new 5%% loss: target %d (signal %v), want it held at 500000 and a congestion signal", got, signal())
	}
	for range 5 {
		window(19, 1)
	}
	if got := read(); got <= 500_000 || signal() {
		t.Errorf("5%% loss as usual: target %d (signal %v), want it raised and no congestion signal", got, signal())
	}
	e.mu.Lock()
	e.lossTarget = 300_000
	e.mu.Unlock()
	window(16, 4)
	cut := read()
	if cut >= 300_000 {
		t.Errorf("20%% loss left the loss target at %d", cut)
	}
	for range 4 {
		window(19, 1)
	}
	if got := read(); got <= 300_000 {
		t.Errorf("steady 5%% loss after a burst: loss target %d, want it back above 300000 (cut to %d)", got, cut)
	}
	held := read()
	window(23, 2) // 8 %: 3 points above the usual loss
	if got := read(); got != held || !signal() {
		t.Errorf("8%% on a 5%% link: target %d → %d (signal %v), want it held and a signal", held, got, signal())
	}
	e.mu.Lock()
	e.lossTarget = 300_000
	e.mu.Unlock()
	window(20, 0)
	if got := read(); got <= 300_000 {
		t.Errorf("a clean window left the loss target at %d", got)
	}
}

// TestEstimatorRamp: without congestion the target climbs faster than
// gcc's 8 %/s (doubling per second at first); a congestion signal drops
// it to gcc's own target; near the rate where congestion came the ramp
// stays off (gcc alone moves the rate); once gcc has carried the target
// past that rate without a new signal, the ramp climbs again; loss over
// 2 % holds it.
func TestEstimatorRamp(t *testing.T) {
	e, err := newEstimator(500_000, 80_000, 2_000_000, kinds{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	now := time.Unix(100, 0)
	d := 500_000 // gcc's delay-based target
	feed := func(dur time.Duration, overuse bool) {
		for end := now.Add(dur); now.Before(end); {
			now = now.Add(50 * time.Millisecond)
			e.updateRamp(now, d, overuse)
		}
	}
	ramp := func() int {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.ramp
	}
	feed(time.Second, false)
	if got := ramp(); got < 900_000 || got > 1_500_000 {
		t.Errorf("after 1 s without congestion the ramp is at %d, want about twice %d", got, d)
	}
	if got := e.GetTargetBitrate(); got != ramp() {
		t.Errorf("target %d, want the ramp %d", got, ramp())
	}
	congestedAt := ramp()
	d = 400_000 // gcc's decrease
	feed(50*time.Millisecond, true)
	if got := ramp(); got != 0 || e.GetTargetBitrate() != e.delayTarget() {
		t.Errorf("after congestion: ramp %d, target %d; want 0 and gcc's %d", got, e.GetTargetBitrate(), e.delayTarget())
	}
	feed(5*time.Second, false)
	if got := ramp(); got != 0 {
		t.Errorf("ramp at %d below the rate where congestion came (%d): a sender at a bottleneck must be left to gcc", got, congestedAt)
	}
	d = int(1.2 * float64(congestedAt)) // gcc's own increase went past it
	feed(time.Second, false)
	if got := ramp(); got <= d || got > 2*d {
		t.Errorf("past the old capacity for a while: ramp %d, want above gcc's %d", got, d)
	}
	e.mu.Lock()
	e.lastLoss = 0.05
	e.mu.Unlock()
	feed(time.Second, false)
	if got := ramp(); got != 0 {
		t.Errorf("5 %% loss: ramp %d, want it held at gcc's target", got)
	}
}

// TestLinkTargetSources: TWCC feedback gives gcc's estimate; a peer that
// sends only REMB gets its REMB value; a peer with no feedback at all is
// unknown after the grace period; audio's reserve is kept off and the
// ceiling holds.
func TestLinkTargetSources(t *testing.T) {
	ls := NewLinks(LinksConfig{Ceiling: 1_000_000})
	e, err := newEstimator(ls.cfg.Start+ls.cfg.AudioReserve, 80_000, 1_048_000, ls)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	now := time.Now()
	l := &link{created: now, bwe: e}

	if got, ok := ls.target(l, now); !ok || got != ls.cfg.Start {
		t.Errorf("no feedback yet: %d %v, want gcc's start %d", got, ok, ls.cfg.Start)
	}
	l.remb.Store(400_000)
	l.rembAt.Store(now.UnixNano())
	if got, ok := ls.target(l, now); !ok || got != 400_000-DefaultAudioReserve {
		t.Errorf("REMB only: %d %v, want %d", got, ok, 400_000-DefaultAudioReserve)
	}
	l.remb.Store(5_000_000)
	if got, _ := ls.target(l, now); got != 1_000_000 {
		t.Errorf("REMB above the ceiling: %d, want the ceiling", got)
	}
	l.twccAt.Store(now.UnixNano())
	if got, _ := ls.target(l, now); got != ls.cfg.Start {
		t.Errorf("TWCC and REMB: %d, want gcc's %d", got, ls.cfg.Start)
	}
	later := now.Add(2 * linkGrace)
	if _, ok := ls.target(l, later); ok {
		t.Error("no feedback for a long time: still a known estimate")
	}
}

// TestEstimatorStandingQueue: receiver reports whose round trip stands
// 150 ms over its floor cut the target even while gcc's delay-based part
// sees nothing (a loaded machine blunts it), at most once per second, and
// stop the ramp; once the round trip is back near its floor the target
// grows back within seconds, until it no longer holds the estimate (gcc's
// start here; above the rate in use it would be untested). reportRTT
// follows RFC 3550.
func TestEstimatorStandingQueue(t *testing.T) {
	e, err := newEstimator(500_000, 80_000, 1_000_000, kinds{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	now := time.Unix(100, 0)
	r := rtcp.ReceptionReport{
		LastSenderReport: uint32(toNTP(now.Add(-100*time.Millisecond)) >> 16),
		Delay:            uint32(20 * time.Millisecond * 65536 / time.Second),
	}
	if rtt, ok := reportRTT(r, now); !ok || rtt < 79*time.Millisecond || rtt > 81*time.Millisecond {
		t.Errorf("report sent 100 ms ago, held 20 ms: RTT %v %v, want 80 ms", rtt, ok)
	}
	if _, ok := reportRTT(rtcp.ReceptionReport{}, now); ok {
		t.Error("a report with no LSR gave a round trip")
	}
	if _, ok := reportRTT(rtcp.ReceptionReport{LastSenderReport: r.LastSenderReport + 1<<16}, now); ok {
		t.Error("an LSR from the future gave a round trip")
	}

	feed := func(dur time.Duration, rtt time.Duration) {
		for end := now.Add(dur); now.Before(end); {
			now = now.Add(250 * time.Millisecond)
			e.addRTT(rtt, now)
		}
	}
	target := func() (int, int) {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.queueTarget, e.ramp
	}
	feed(2*time.Second, 40*time.Millisecond)
	if q, _ := target(); q != 1_000_000 {
		t.Fatalf("no queue: queue target %d, want the ceiling", q)
	}
	base := e.GetTargetBitrate()
	feed(250*time.Millisecond, 300*time.Millisecond)
	if got := e.GetTargetBitrate(); got != int(queueBackoff*float64(base)) {
		t.Errorf("a 260 ms queue: target %d, want %.2f × %d", got, queueBackoff, base)
	}
	first := e.GetTargetBitrate()
	feed(500*time.Millisecond, 300*time.Millisecond)
	if got := e.GetTargetBitrate(); got != first {
		t.Errorf("a second cut within %v: %d after %d", queueCutEvery, got, first)
	}
	e.updateRamp(now, 500_000, false)
	if _, ramp := target(); ramp != 0 {
		t.Errorf("ramp %d while the queue stands, want 0", ramp)
	}
	feed(2*time.Second, 300*time.Millisecond)
	if got := e.GetTargetBitrate(); got >= first {
		t.Errorf("a queue standing 2 s more: target %d, want below %d", got, first)
	}
	feed(10*time.Second, 45*time.Millisecond) // slowly up to 1.1 × where the queue came, then fast
	if q, _ := target(); q < e.delayTarget() || e.GetTargetBitrate() != e.delayTarget() {
		t.Errorf("10 s without a queue: queue target %d, estimate %d; want the queue target no longer holding it (gcc's %d)", q, e.GetTargetBitrate(), e.delayTarget())
	}
}

// TestPacerIdleSleeps: a pacer with nothing queued (a receive-only peer)
// runs no sending rounds; one audio packet wakes it once, and a burst of
// video keeps it stepping only until the burst is out.
func TestPacerIdleSleeps(t *testing.T) {
	p := newPacer(200_000, kinds{})
	defer p.Close()
	var sent atomic.Int64
	w := interceptor.RTPWriterFunc(func(_ *rtp.Header, payload []byte, _ interceptor.Attributes) (int, error) {
		sent.Add(1)
		return len(payload), nil
	})
	p.AddStream(1, w)
	p.AddStream(9, w)
	idle := func(what string) {
		t.Helper()
		r0 := p.rounds.Load()
		time.Sleep(200 * time.Millisecond) // the time an idle pacer must not step through
		if r := p.rounds.Load() - r0; r > 1 {
			t.Errorf("%s: %d sending rounds in 200 ms (a %v step would be %d)", what, r, pacingStep, 200*time.Millisecond/pacingStep)
		}
	}
	idle("before any packet")
	if _, err := p.Write(&rtp.Header{SSRC: 9}, make([]byte, 100), nil); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the audio packet sent", func() bool { return sent.Load() == 1 })
	idle("after an audio packet")
	for i := range 20 { // 20 kB: ≈ 0.5 s at 300 kbit/s, many steps
		if _, err := p.Write(&rtp.Header{SSRC: 1, SequenceNumber: uint16(i)}, make([]byte, 1000), nil); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "the burst sent", func() bool { return sent.Load() == 21 })
	idle("after the burst")
}

// waitUntil polls cond until it holds, for at most 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
