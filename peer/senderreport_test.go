package peer

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/videochat/videochat/internal/looptest"
)

// frameTrack is a TrackLocal that writes one packet per 20 ms frame, as
// capture's audio does: frame k (RTP time ts0 + 960 k) is captured at
// t0 + 20 ms × k and written 20 ms later, when it is complete. With
// noting, it notes each frame's capture instant on its writer first
// (capture.CaptureNoter), as capture's tracks do.
type frameTrack struct {
	id     string
	noting bool
	t0     time.Time
	ts0    uint32

	mu      sync.Mutex
	written map[uint32]time.Time // RTP time → when its packet was written
	stop    chan struct{}
	done    chan struct{}
}

func newFrameTrack(id string, noting bool) *frameTrack {
	return &frameTrack{id: id, noting: noting, ts0: 123_456_789, written: map[uint32]time.Time{}}
}

func (f *frameTrack) ID() string                { return f.id }
func (f *frameTrack) RID() string               { return "" }
func (f *frameTrack) StreamID() string          { return "s" }
func (f *frameTrack) Kind() webrtc.RTPCodecType { return webrtc.RTPCodecTypeAudio }

func (f *frameTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	p := ctx.CodecParameters()[0]
	f.stop, f.done = make(chan struct{}), make(chan struct{})
	f.mu.Lock()
	f.t0 = time.Now()
	f.mu.Unlock()
	go f.run(ctx.WriteStream(), uint32(ctx.SSRC()), p.PayloadType)
	return p, nil
}

func (f *frameTrack) Unbind(webrtc.TrackLocalContext) error {
	close(f.stop)
	<-f.done
	return nil
}

func (f *frameTrack) run(w webrtc.TrackLocalWriter, ssrc uint32, pt webrtc.PayloadType) {
	defer close(f.done)
	noter, _ := w.(interface{ NoteCapture(uint32, time.Time) })
	f.mu.Lock()
	t0 := f.t0
	f.mu.Unlock()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var seq uint16
	for k := 0; ; k++ {
		select {
		case <-f.stop:
			return
		case <-tick.C:
		}
		ts := f.ts0 + uint32(960*k)
		captured := t0.Add(time.Duration(k) * 20 * time.Millisecond)
		if d := time.Until(captured.Add(20 * time.Millisecond)); d > 0 {
			time.Sleep(d) // never written before its 20 ms are complete
		}
		if f.noting && noter != nil {
			noter.NoteCapture(ts, captured)
		}
		f.mu.Lock()
		f.written[ts] = time.Now()
		f.mu.Unlock()
		seq++
		_, _ = w.WriteRTP(&rtp.Header{Version: 2, PayloadType: uint8(pt), SequenceNumber: seq, Timestamp: ts, SSRC: ssrc}, []byte{0xfc, 0xff, 0xfe})
	}
}

// captured is the capture instant of RTP time ts.
func (f *frameTrack) captured(ts uint32) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t0.Add(time.Duration(int32(ts-f.ts0)) * time.Second / 48000)
}

// writeError is how far an SR mapping RTP time ts to at is from the
// mapping of the nearest written frame (pion's rule anchors to one),
// extrapolated at 48 kHz.
func (f *frameTrack) writeError(ts uint32, at time.Time) (time.Duration, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	best, found := time.Duration(0), false
	for fts, w := range f.written {
		if int32(ts-fts) < 0 {
			continue
		}
		d := at.Sub(w.Add(time.Duration(int32(ts-fts)) * time.Second / 48000))
		if !found || d.Abs() < best.Abs() {
			best, found = d, true
		}
	}
	return best, found
}

// srTestTimeout bounds the wait for sender reports (the machine is shared).
const srTestTimeout = 30 * time.Second

// TestSenderReportsMapCaptureTime: the sender reports of a connection of
// Links map a track's RTP time to when its media was captured, not to when
// its packets were written 20 ms later (pion's report interceptor). A
// track that notes no capture times gets SRs of the write time.
func TestSenderReportsMapCaptureTime(t *testing.T) {
	links := NewLinks(LinksConfig{Ceiling: 1_000_000})
	sendAPI := looptest.InterceptorAPI(t, nil, links.Register)
	recvAPI := looptest.API(t, nil)

	send, err := sendAPI.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	recv, err := recvAPI.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		_ = send.Close()
		_ = recv.Close()
		wg.Wait()
	})

	noted, unnoted := newFrameTrack("noted", true), newFrameTrack("unnoted", false)
	bySSRC := map[uint32]*frameTrack{}
	for _, ft := range []*frameTrack{noted, unnoted} {
		s, err := send.AddTrack(links.ClockTrack(ft))
		if err != nil {
			t.Fatal(err)
		}
		bySSRC[uint32(s.GetParameters().Encodings[0].SSRC)] = ft
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, _, err := s.ReadRTCP(); err != nil {
					return
				}
			}
		}()
	}

	type report struct {
		ft *frameTrack
		sr rtcp.SenderReport
	}
	reports := make(chan report, 64)
	recv.OnTrack(func(tr *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		wg.Add(2)
		go func() { // drain the media
			defer wg.Done()
			for {
				if _, _, err := tr.ReadRTP(); err != nil {
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for {
				pkts, _, err := r.ReadRTCP()
				if err != nil {
					return
				}
				for _, p := range pkts {
					if sr, ok := p.(*rtcp.SenderReport); ok && bySSRC[sr.SSRC] != nil {
						select {
						case reports <- report{bySSRC[sr.SSRC], *sr}:
						default:
						}
					}
				}
			}
		}()
	})
	looptest.Connect(t, send, recv)

	// Two SRs of each track (one a second).
	got := map[*frameTrack]int{}
	deadline := time.After(srTestTimeout)
	for got[noted] < 2 || got[unnoted] < 2 {
		var r report
		select {
		case r = <-reports:
		case <-deadline:
			t.Fatalf("sender reports after %v: %d of the noting track, %d of the other; want 2 each", srTestTimeout, got[noted], got[unnoted])
		}
		got[r.ft]++
		ntp := ntpTime(r.sr.NTPTime)
		if r.ft == noted {
			// The SR says RTP time r.sr.RTPTime is the instant ntp; it was captured at:
			errMs := float64(ntp.Sub(noted.captured(r.sr.RTPTime))) / float64(time.Millisecond)
			t.Logf("noting track: SR maps RTP time to capture time %+.2f ms off", errMs)
			if errMs < -5 || errMs > 5 {
				t.Errorf("SR of the noting track maps RTP time %d to %v, its capture instant is %v: %+.1f ms off, want within ±5 ms",
					r.sr.RTPTime, ntp.Format("15:04:05.000"), noted.captured(r.sr.RTPTime).Format("15:04:05.000"), errMs)
			}
			continue
		}
		d, ok := unnoted.writeError(r.sr.RTPTime, ntp)
		if !ok {
			t.Fatalf("SR of the other track for RTP time %d before any packet", r.sr.RTPTime)
		}
		errMs := float64(d) / float64(time.Millisecond)
		t.Logf("other track: SR maps RTP time to write time %+.2f ms off (capture %+.2f ms)", errMs, float64(ntp.Sub(unnoted.captured(r.sr.RTPTime)))/float64(time.Millisecond))
		if errMs < -5 || errMs > 5 {
			t.Errorf("SR of a track that notes nothing maps RTP time %d %+.1f ms off its write time, want within ±5 ms", r.sr.RTPTime, errMs)
		}
	}
}

// TestToNTP: toNTP is the inverse of ntpTime, to the nanosecond's rounding.
func TestToNTP(t *testing.T) {
	for _, at := range []time.Time{time.Unix(0, 0), time.Unix(1_800_000_000, 999_999_999), time.Date(2036, 2, 7, 6, 28, 15, 500_000_000, time.UTC)} {
		back := ntpTime(toNTP(at))
		if d := back.Sub(at); d < -time.Nanosecond || d > time.Nanosecond {
			t.Errorf("ntpTime(toNTP(%v)) = %v (%v off)", at, back, d)
		}
	}
}

// TestSenderReportAnchorIgnoresLateNotes: capture instants noted late (a
// chunk read behind schedule) do not move the SR's mapping; a new
// timeline (a jump in RTP time) is taken at once, and an anchor older
// than anchorWindow gives way to the newest note.
func TestSenderReportAnchorIgnoresLateNotes(t *testing.T) {
	s := &srStream{ssrc: 1, clockRate: 48000}
	s.wrote(time.Unix(0, 0), &rtp.Header{SequenceNumber: 1, Timestamp: 7}, 10)
	base := time.Unix(1000, 0)
	const ts0 = uint32(4_000_000_000) // wraps within the test
	truth := func(ts uint32) time.Time { return base.Add(time.Duration(int32(ts-ts0)) * time.Second / 48000) }
	offBy := func(now time.Time, want func(uint32) time.Time) time.Duration {
		sr := s.report(now)
		return now.Sub(want(sr.RTPTime))
	}
	late := []time.Duration{0, 3, 0, 0, 40, 0, 11, 0, 0, 0, 120, 0, 0, 5, 0} // ms, cycled
	var ts uint32
	for k := range 150 { // 3 s of 20 ms frames
		ts = ts0 + uint32(960*k)
		s.noteCapture(ts, truth(ts).Add(late[k%len(late)]*time.Millisecond))
		if late[k%len(late)] == 0 {
			continue
		}
		if d := offBy(truth(ts).Add(30*time.Millisecond), truth); d < -time.Microsecond || d > time.Microsecond {
			t.Fatalf("frame %d, noted %v late: the SR is %v off", k, late[k%len(late)]*time.Millisecond, d)
		}
	}
	// A new timeline: RTP time jumps by 10 s against the clock.
	jumped := func(x uint32) time.Time { return truth(x - 480_000) }
	for k := range 3 {
		ts += 960
		at := truth(ts).Add(time.Duration(k) * time.Millisecond)
		s.noteCapture(ts+480_000, at)
		if k == 0 {
			if d := offBy(at.Add(20*time.Millisecond), jumped); d < -time.Microsecond || d > time.Microsecond {
				t.Fatalf("after a jump in RTP time the SR is %v off the new timeline", d)
			}
		}
	}
	// A clock that runs slow: notes 5 ms late for longer than the window
	// are taken.
	for k := range 150 {
		ts += 960
		at := truth(ts).Add(5 * time.Millisecond)
		s.noteCapture(ts+480_000, at)
		if d := offBy(at, jumped); k == 149 && (d < 5*time.Millisecond-time.Microsecond || d > 5*time.Millisecond+time.Microsecond) {
			t.Fatalf("notes 5 ms late for 3 s: the SR is %v off, want 5ms", d)
		}
	}
}
