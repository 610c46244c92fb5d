package capture

import (
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/videochat/videochat/capture/opus"
	"github.com/videochat/videochat/internal/looptest"
	"github.com/videochat/videochat/internal/timestrip"
	"github.com/videochat/videochat/internal/tonetest"
	"github.com/videochat/videochat/peer"
	"github.com/videochat/videochat/view/decode"
)

// Beep onsets in decoded tone audio (tonetest.Onsets): loud above 0.1 of
// full scale (the beep is 0.3, the rest 0.05) after 0.4 s below it.
const (
	onsetThreshold = 0.1
	onsetQuiet     = audioRate * 4 / 10
)

// TestSenderReportsMapCaptureTime: the test sources go through their
// encoders and peer's sender reports (peer.Links, Links.ClockTrack) to a
// pion receiver, which decodes them and maps RTP times to the sender's
// clock through each sender report of the track:
//   - audio: the tone beeps when a wall-clock second begins; every beep's
//     onset lands on its second, within ±5 ms, once the codec's own delay
//     (codecDelay) is taken off. pion's report interceptor, which maps RTP
//     time to when a packet was written, put them ≈ 20 ms late.
//   - video: every frame of the test pattern shows its capture time in its
//     time strip; each frame's RTP time maps to it within ±5 ms (pion's
//     put them late by the encoding).
func TestSenderReportsMapCaptureTime(t *testing.T) {
	delay := codecDelay(t)
	t.Logf("codec + onset detector delay: %d samples (%.2f ms)", delay, float64(delay)*1000/audioRate)

	m := openMedia(t, Config{Audio: "test", Video: "test"})
	links := peer.NewLinks(peer.LinksConfig{Ceiling: 1_000_000})
	me := &webrtc.MediaEngine{}
	if err := RegisterCodecs(me); err != nil {
		t.Fatal(err)
	}
	sendAPI := looptest.InterceptorAPI(t, me, links.Register)
	var (
		mu   sync.Mutex
		pkts = map[webrtc.RTPCodecType][]*rtp.Packet{}
		srs  = map[webrtc.RTPCodecType][]rtcp.SenderReport{}
		wg   sync.WaitGroup
		// video: when a keyframe was last asked for; keyframes and frames since
		asked                     time.Time
		keyFrames, framesAfterKey int
	)
	recvAPI := newAPI(t, RegisterCodecs)
	t.Cleanup(wg.Wait) // after the call's close (cleanups run last first)
	c := newCall(t, sendAPI, recvAPI)
	c.recv.OnTrack(func(tr *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for {
				p, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				p.Payload = slices.Clone(p.Payload)
				key := isKeyFrameStart(tr.Codec().MimeType, p.Payload)
				mu.Lock()
				pkts[tr.Kind()] = append(pkts[tr.Kind()], p)
				if tr.Kind() == webrtc.RTPCodecTypeVideo {
					switch {
					case keyFrames == 0 && !key && time.Since(asked) > 500*time.Millisecond:
						// The first keyframe went out before the
						// connection was up: ask for one, as browsers do.
						asked = time.Now()
						_ = c.recv.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(tr.SSRC())}})
					case key:
						keyFrames++
					case keyFrames > 0 && p.Marker:
						framesAfterKey++
					}
				}
				mu.Unlock()
			}
		}()
		go func() {
			defer wg.Done()
			for {
				rs, _, err := r.ReadRTCP()
				if err != nil {
					return
				}
				for _, p := range rs {
					if sr, ok := p.(*rtcp.SenderReport); ok && sr.SSRC == uint32(tr.SSRC()) {
						mu.Lock()
						srs[tr.Kind()] = append(srs[tr.Kind()], *sr)
						mu.Unlock()
					}
				}
			}
		}()
	})
	for _, tr := range m.Tracks() {
		s, err := c.send.AddTrack(links.ClockTrack(tr)) // as peer adds its tracks
		if err != nil {
			t.Fatal(err)
		}
		go readRTCP(s, tr) // the keyframe requests go to the track itself
	}
	looptest.Connect(t, c.send, c.recv)

	// Three sender reports of each track, 3.5 s of audio (at least two
	// beeps, each after 0.4 s of quiet) and 40 frames after a keyframe.
	eventually(t, "3 sender reports of each track, 3.5 s of audio and 40 video frames", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(srs[webrtc.RTPCodecTypeAudio]) >= 3 && len(srs[webrtc.RTPCodecTypeVideo]) >= 3 &&
			len(pkts[webrtc.RTPCodecTypeAudio]) >= 175 && framesAfterKey >= 40
	})
	mu.Lock()
	audio, reports := slices.Clone(pkts[webrtc.RTPCodecTypeAudio]), slices.Clone(srs[webrtc.RTPCodecTypeAudio])
	video, videoReports := slices.Clone(pkts[webrtc.RTPCodecTypeVideo]), slices.Clone(srs[webrtc.RTPCodecTypeVideo])
	mu.Unlock()
	checkToneReports(t, audio, reports, delay)
	checkPatternReports(t, video, videoReports)
}

// checkToneReports maps the tone's beep onsets through each SR.
func checkToneReports(t *testing.T, got []*rtp.Packet, reports []rtcp.SenderReport, delay int) {
	t.Helper()
	pcm, ts0, gaps := decodeTone(t, got)
	onsets := tonetest.Onsets(pcm, 440, audioRate, onsetThreshold, onsetQuiet)
	checked := 0
	for _, i := range onsets {
		if gaps(i-onsetQuiet-audioFrameTicks, i+audioFrameTicks) {
			continue // a lost packet next to it could fake or move it
		}
		rtpTime := ts0 + uint32(i-delay)
		for _, sr := range reports {
			at := ntpToTime(sr.NTPTime).Add(time.Duration(int32(rtpTime-sr.RTPTime)) * time.Second / audioRate)
			off := at.Sub(at.Round(time.Second))
			t.Logf("beep at RTP time %d: the SR of RTP %d puts it %+.2f ms off its second", rtpTime, sr.RTPTime, float64(off)/float64(time.Millisecond))
			if off < -5*time.Millisecond || off > 5*time.Millisecond {
				t.Errorf("a beep captured on a wall-clock second is mapped by a sender report to %s: %+.1f ms off, want within ±5 ms",
					at.Format("15:04:05.000"), float64(off)/float64(time.Millisecond))
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatalf("no beep onset found in %d packets (onsets at %v)", len(got), onsets)
	}
}

// checkPatternReports maps each decoded frame's RTP time through the
// last SR before it and compares it with the capture time in its strip.
func checkPatternReports(t *testing.T, pkts []*rtp.Packet, reports []rtcp.SenderReport) {
	t.Helper()
	dec, err := decode.New(decode.VP8)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	var offs []time.Duration
	for _, f := range vp8Frames(pkts) {
		img, err := dec.Decode(f.data, nil)
		if err != nil {
			continue // before the first keyframe
		}
		strip, ok := timestrip.Read(img, time.Now())
		if !ok {
			t.Fatal("a decoded test pattern frame has no time strip")
		}
		sr := reports[0]
		at := ntpToTime(sr.NTPTime).Add(time.Duration(int32(f.ts-sr.RTPTime)) * time.Second / 90000)
		offs = append(offs, at.Sub(strip))
	}
	if len(offs) < 30 {
		t.Fatalf("only %d frames decoded", len(offs))
	}
	slices.Sort(offs)
	t.Logf("video: %d frames; the first SR maps their RTP times %+.2f ms (min) / %+.2f ms (median) / %+.2f ms (max) off their strip times",
		len(offs), ms(offs[0]), ms(offs[len(offs)/2]), ms(offs[len(offs)-1]))
	// The strip has millisecond resolution and is drawn just before the
	// frame's capture instant is taken.
	if med := offs[len(offs)/2]; med < -5*time.Millisecond || med > 5*time.Millisecond {
		t.Errorf("video sender reports map RTP time %+.1f ms (median) off the capture time in the frames, want within ±5 ms", ms(med))
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

type vp8Frame struct {
	ts   uint32
	data []byte
}

// vp8Frames reassembles the complete frames of pkts (one RTP timestamp,
// consecutive sequence numbers from a start of partition to a marker).
func vp8Frames(pkts []*rtp.Packet) []vp8Frame {
	var out []vp8Frame
	var cur []byte
	var next uint16
	open := false
	for _, p := range pkts {
		var d codecs.VP8Packet
		body, err := d.Unmarshal(p.Payload)
		if err != nil {
			open = false
			continue
		}
		switch {
		case d.S == 1 && d.PID == 0:
			cur, open = append([]byte(nil), body...), true
		case open && p.SequenceNumber == next:
			cur = append(cur, body...)
		default:
			open = false
			continue
		}
		next = p.SequenceNumber + 1
		if p.Marker && open {
			out = append(out, vp8Frame{ts: p.Timestamp, data: cur})
			open = false
		}
	}
	return out
}

// decodeTone decodes the packets onto their RTP times: pcm[i] is RTP time
// ts0 + i. gaps reports whether a frame in [from, to) was missing.
func decodeTone(t *testing.T, pkts []*rtp.Packet) (pcm []int16, ts0 uint32, gaps func(from, to int) bool) {
	t.Helper()
	dec, err := opus.NewDecoder(1)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	ts0 = pkts[0].Timestamp
	last := 0
	for _, p := range pkts {
		if d := int(int32(p.Timestamp - ts0)); d > last {
			last = d
		}
	}
	pcm = make([]int16, last+audioFrameTicks)
	have := make([]bool, len(pcm)/audioFrameTicks+1)
	slices.SortFunc(pkts, func(a, b *rtp.Packet) int { return int(int32(a.Timestamp - b.Timestamp)) })
	for _, p := range pkts {
		at := int(int32(p.Timestamp - ts0))
		if at < 0 || at%audioFrameTicks != 0 {
			continue
		}
		if _, err := dec.Decode(p.Payload, pcm[at:at+audioFrameTicks], false); err != nil {
			t.Fatal(err)
		}
		have[at/audioFrameTicks] = true
	}
	return pcm, ts0, func(from, to int) bool {
		for f := max(0, from/audioFrameTicks); f <= min(len(have)-1, to/audioFrameTicks); f++ {
			if !have[f] {
				return true
			}
		}
		return from < 0
	}
}

// codecDelay is how many samples after a beep's first sample its onset is
// found in the tone encoded and decoded (Opus's look-ahead, plus where
// tonetest.Onsets puts an onset).
func codecDelay(t *testing.T) int {
	t.Helper()
	src := newToneSource()
	first := time.Unix(100, 500_000_000)
	src.now = func() time.Time { return first.Add(audioFrame) } // first sample at .5 s
	enc, err := newOpus(1, DefaultAudioBitrate)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	dec, err := opus.NewDecoder(1)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	var pcm []int16
	frame := make([]int16, audioFrameTicks)
	for range 150 { // 3 s
		chunk, release, err := src.Read()
		if err != nil {
			t.Fatal(err)
		}
		data, err := enc.Encode(chunk)
		release()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dec.Decode(data, frame, false); err != nil {
			t.Fatal(err)
		}
		pcm = append(pcm, frame...)
	}
	onsets := tonetest.Onsets(pcm, 440, audioRate, onsetThreshold, onsetQuiet)
	want := audioRate / 2 // the first second begins 0.5 s in
	if len(onsets) == 0 || onsets[0] < want || onsets[0] > want+audioRate/50 {
		t.Fatalf("encoded and decoded tone: onsets at %v, want the first within 20 ms after %d", onsets, want)
	}
	return onsets[0] - want
}

// ntpToTime converts a 64-bit NTP timestamp to a time.Time.
func ntpToTime(v uint64) time.Time {
	const ntpEpochOffset = 2208988800
	frac := float64(v&0xffffffff) / (1 << 32)
	return time.Unix(int64(v>>32)-ntpEpochOffset, int64(math.Round(frac*1e9)))
}
