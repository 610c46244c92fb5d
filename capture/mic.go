package capture

// The microphone path, top to bottom:
//
//	device (miniaudio thread) → push: decode s16/f32, mix down to mono
//	  → s.in (input rate, at most 1 s) → Read: resample to 48 kHz
//	  → 20 ms int16 chunks → Opus encoder.
//
// The device is opened first and its mode chosen from what it then
// reports (modes are only known once it is open). A device that stops
// delivering (unplugged, sound server restarted, driver failure) does not
// end the call: Read sends silence at the real-time pace, logs the event,
// and a reopen loop tries the device again every second; audio resumes
// when it is back.

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gen2brain/malgo"
	"github.com/pion/mediadevices/pkg/wave"
)

const (
	// micStallAfter is how long Read waits for the device before it
	// declares it lost and sends silence.
	micStallAfter = time.Second
	// micStartGrace is the wait for a device's first samples: sound
	// servers take a while to start a stream.
	micStartGrace = 3 * time.Second
	// micReopenEvery is the pace of the reopen loop of a lost device.
	micReopenEvery = time.Second
	// micReleaseWait bounds the wait for a lost device to be released.
	micReleaseWait = 2 * time.Second
	// micMaxBuffered bounds the audio waiting for Read, in seconds.
	micMaxBuffered = 1
)

// micChoice is what Open found: the device to record and how. released
// is closed once the trial stream of Open has been let go of.
type micChoice struct {
	id, label string
	mode      audioMode
	released  <-chan struct{}
}

// findMicrophone checks at Open time that the microphone cfg asks for
// exists, opens it and finds a mode it can record in, or returns an error
// wrapping ErrNoMicrophone (naming the devices there are). A trial start
// finds a device busy in another program (ALSA hardware) or a source the
// sound server refuses now, not in the middle of the call: that error
// wraps ErrDeviceBusy.
func findMicrophone(cfg Config) (micChoice, error) {
	be, err := newAudioBackend(cfg.Logger)
	if err != nil {
		return micChoice{}, noMicrophone(cfg, err, nil)
	}
	mics, err := be.microphones()
	if err != nil {
		be.close()
		return micChoice{}, noMicrophone(cfg, err, nil)
	}
	m, err := chooseMicrophone(mics, cfg.Mic)
	if err != nil {
		be.close()
		return micChoice{}, noMicrophone(cfg, err, mics)
	}
	mode, ok := bestAudioMode(m.modes)
	if !ok {
		be.close()
		return micChoice{}, fmt.Errorf("%w: microphone %s offers no mode this program records (%s; wanted s16 or f32, 8-96 kHz)",
			ErrNoMicrophone, m.ID, describeAudioModes(m.modes))
	}
	dev, err := be.startCapture(m, mode, 0, func([]byte) {}, nil)
	if err != nil {
		be.close()
		return micChoice{}, fmt.Errorf("%w: microphone %s does not start: in use by another program or refused by the sound server (%v): close that program, pick another with --mic (see `videochat devices`), or use --audio test or --audio none",
			ErrDeviceBusy, m.ID, err)
	}
	// Letting go of a PulseAudio stream that was just started can take
	// more than a second: it happens in the background, and the
	// pipeline (and Media.Close) wait for it before they go on.
	released := make(chan struct{})
	go func() {
		defer close(released)
		dev.Uninit()
		be.close()
	}()
	return micChoice{id: m.ID, label: m.Label, mode: mode, released: released}, nil
}

// waitReleased waits, bounded by micReleaseWait, until the trial stream
// of Open is let go of (nil: nothing to wait for).
func waitReleased(released <-chan struct{}) {
	if released == nil {
		return
	}
	t := time.NewTimer(micReleaseWait)
	defer t.Stop()
	select {
	case <-released:
	case <-t.C:
	}
}

func noMicrophone(cfg Config, cause error, mics []micInfo) error {
	var have []string
	for _, m := range mics {
		have = append(have, m.ID)
	}
	list := ""
	if len(have) > 0 {
		list = "; devices: " + strings.Join(have, ", ")
	}
	which := ""
	if cfg.Mic != "" {
		which = fmt.Sprintf(" (--mic %q)", cfg.Mic)
	}
	return fmt.Errorf("%w%s: %v%s: use --audio test, or list devices with `videochat devices`", ErrNoMicrophone, which, cause, list)
}

func describeAudioModes(modes []audioMode) string {
	if len(modes) == 0 {
		return "no modes"
	}
	var s []string
	for _, m := range modes {
		s = append(s, fmt.Sprintf("%d Hz %d ch %s", m.rate, m.channels, m.formatName()))
	}
	return strings.Join(s, ", ")
}

// micSource records a microphone for one pipeline run.
type micSource struct {
	want   string // --mic ("" = default)
	period int    // capture period, ms (0: micPeriodMillis); benchmarks vary it
	log    *slog.Logger
	be     *audioBackend
	stop   chan struct{} // closed by Close: ends the reopen loop
	wg     sync.WaitGroup

	mu      sync.Mutex
	dev     *malgo.Device
	gen     int       // bumped on every (re)open; callbacks of older devices are ignored
	in      []float32 // mono samples at inRate waiting for Read
	inRate  int
	lost    bool          // the device stopped by itself
	ready   chan struct{} // signalled (cap 1) when samples arrive or the device is lost
	stalled atomic.Bool   // Read is sending silence; the reopen loop runs
	started bool          // Read has had samples from the device

	// Read's own state: one goroutine.
	rs    *resampler
	rsIn  int
	buf   []float32 // swapped with in
	out   []float32 // 48 kHz mono waiting to be chunked
	chunk *wave.Int16Interleaved
	next  time.Time // pace of silence while stalled
	timer *time.Timer
}

// openMicrophone starts recording the microphone want. A device that was
// there at Open but does not start now (busy, refused, gone) does not end
// the call: the source sends silence and the reopen loop tries it every
// second.
func openMicrophone(want string, log *slog.Logger, released <-chan struct{}) (*micSource, error) {
	return openMicrophonePeriod(want, log, released, 0)
}

// openMicrophonePeriod is openMicrophone with a capture period in ms (0:
// micPeriodMillis).
func openMicrophonePeriod(want string, log *slog.Logger, released <-chan struct{}, period int) (*micSource, error) {
	waitReleased(released)
	be, err := newAudioBackend(log)
	if err != nil {
		return nil, err
	}
	s := &micSource{
		want: want, period: period, log: log, be: be, stop: make(chan struct{}), ready: make(chan struct{}, 1),
		chunk: wave.NewInt16Interleaved(wave.ChunkInfo{Len: audioFrameTicks, Channels: 1, SamplingRate: audioRate}),
		timer: time.NewTimer(time.Hour),
	}
	if err := s.connect(); err != nil {
		s.stall("cannot open: " + err.Error())
	}
	return s, nil
}

// connect (re)opens the device and makes it the one Read hears.
func (s *micSource) connect() error {
	mics, err := s.be.microphones()
	if err != nil {
		return err
	}
	m, err := chooseMicrophone(mics, s.want)
	if err != nil {
		return err
	}
	mode, ok := bestAudioMode(m.modes)
	if !ok {
		return fmt.Errorf("microphone %s: no supported mode (%s)", m.ID, describeAudioModes(m.modes))
	}
	s.mu.Lock()
	s.gen++
	gen := s.gen
	s.mu.Unlock()
	dec := sampleDecoder(mode)
	dev, err := s.be.startCapture(m, mode, s.period,
		func(b []byte) { s.push(gen, mode.rate, dec, b) },
		func() { s.lose(gen, "device stopped") })
	if err != nil {
		return err
	}
	s.mu.Lock()
	old := s.dev
	s.dev, s.lost, s.in, s.inRate = dev, false, s.in[:0], mode.rate
	s.mu.Unlock()
	if old != nil {
		s.release(old)
	}
	s.log.Info("microphone open", "id", m.ID, "label", m.Label, "rate", mode.rate, "channels", mode.channels, "format", mode.formatName())
	return nil
}

// release uninitialises a device (replaced after it was lost, or closed)
// and reports whether it let go. miniaudio's PulseAudio backend can block
// for ever uninitialising a stream the server killed (its source was
// removed): the wait is bounded, and a device that does not let go is
// abandoned (its thread and buffers stay allocated; its callbacks are
// ignored), so a stopping pipeline never hangs the track.
func (s *micSource) release(dev *malgo.Device) bool {
	done := make(chan struct{})
	go func() {
		defer close(done)
		dev.Uninit()
	}()
	select {
	case <-done:
		return true
	case <-time.After(micReleaseWait):
		s.log.Warn("the sound server did not release the microphone: abandoning it")
		return false
	}
}

// push runs on the device's thread: it decodes and queues one period.
func (s *micSource) push(gen, rate int, dec func([]float32, []byte) []float32, b []byte) {
	defer func() {
		if r := recover(); r != nil {
			s.lose(gen, fmt.Sprintf("driver failure: %v", r))
		}
	}()
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen != s.gen {
		return
	}
	s.in = dec(s.in, b)
	if over := len(s.in) - micMaxBuffered*rate; over > 0 {
		s.in = s.in[:copy(s.in, s.in[over:])]
	}
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

func (s *micSource) lose(gen int, why string) {
	s.mu.Lock()
	cur := gen == s.gen
	if cur {
		s.lost = true
	}
	s.mu.Unlock()
	if cur {
		s.log.Debug("microphone lost", "why", why)
		select {
		case s.ready <- struct{}{}:
		default:
		}
	}
}

// sampleDecoder returns a function that appends the mono mix of one
// period in mode's format to dst.
func sampleDecoder(mode audioMode) func(dst []float32, b []byte) []float32 {
	ch := mode.channels
	gain := float32(1) / float32(ch)
	if mode.format == malgo.FormatF32 {
		return func(dst []float32, b []byte) []float32 {
			for i := 0; i+4*ch <= len(b); i += 4 * ch {
				var sum float32
				for c := 0; c < ch; c++ {
					sum += math.Float32frombits(binary.NativeEndian.Uint32(b[i+4*c:]))
				}
				dst = append(dst, sum*gain)
			}
			return dst
		}
	}
	return func(dst []float32, b []byte) []float32 {
		for i := 0; i+2*ch <= len(b); i += 2 * ch {
			var sum float32
			for c := 0; c < ch; c++ {
				sum += float32(int16(binary.NativeEndian.Uint16(b[i+2*c:])))
			}
			dst = append(dst, sum*gain/32768)
		}
		return dst
	}
}

func (s *micSource) Interval() time.Duration { return 0 }
func (s *micSource) Channels() int           { return 1 }

// Read returns the next 20 ms at 48 kHz, mono. It blocks until the device
// has delivered them, or, while the device is lost, until their time has
// come (they are silence then).
func (s *micSource) Read() (wave.Audio, func(), error) {
	for len(s.out) < audioFrameTicks {
		if s.stalled.Load() {
			s.waitUntil(s.next)
			s.next = s.next.Add(audioFrame)
		} else {
			wait := micStallAfter
			if !s.started {
				wait = micStartGrace
			}
			s.timer.Reset(wait)
			select {
			case <-s.ready:
			case <-s.timer.C:
				s.stall("no audio for " + wait.String())
			}
			s.timer.Stop()
		}
		s.mu.Lock()
		in, rate, lost := s.in, s.inRate, s.lost
		s.in, s.buf = s.buf[:0], in
		s.mu.Unlock()
		if lost && !s.stalled.Load() {
			s.stall("device stopped")
		}
		if len(in) > 0 {
			s.started = true
			if s.stalled.Load() && !lost {
				s.stalled.Store(false)
				s.log.Warn("microphone is back: sending its audio again")
			}
			if s.rs == nil || s.rsIn != rate {
				rs, err := newResampler(rate, audioRate)
				if err != nil {
					return nil, func() {}, err
				}
				s.rs, s.rsIn = rs, rate
			}
			s.out = s.rs.Process(s.out, in)
		} else if s.stalled.Load() {
			s.out = append(s.out, make([]float32, audioFrameTicks-len(s.out)%audioFrameTicks)...)
		}
	}
	for i := range s.chunk.Data {
		v := s.out[i] * 32767
		s.chunk.Data[i] = int16(max(-32768, min(32767, v)))
	}
	s.out = s.out[:copy(s.out, s.out[audioFrameTicks:])]
	return s.chunk, func() {}, nil
}

func (s *micSource) waitUntil(t time.Time) {
	if d := time.Until(t); d > 0 {
		s.timer.Reset(d)
		<-s.timer.C
	}
}

// stall switches Read to paced silence and starts the reopen loop.
func (s *micSource) stall(why string) {
	if s.stalled.Swap(true) {
		return
	}
	s.next = time.Now()
	s.log.Warn("microphone lost: sending silence, retrying every second", "why", why)
	s.wg.Add(1)
	go s.reopenLoop()
}

// reopenLoop opens the device again until it delivers, or Close.
func (s *micSource) reopenLoop() {
	defer s.wg.Done()
	t := time.NewTicker(micReopenEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		if !s.stalled.Load() {
			return // audio came back by itself
		}
		s.mu.Lock()
		lost := s.lost
		s.mu.Unlock()
		if !lost && s.hasAudio() {
			continue // data is flowing: Read will see it
		}
		if err := s.connect(); err != nil {
			s.log.Debug("microphone reopen failed", "err", err)
			continue
		}
		return
	}
}

func (s *micSource) hasAudio() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.in) > 0
}

// Close stops the device and the reopen loop and frees the backend.
func (s *micSource) Close() error {
	close(s.stop)
	s.wg.Wait()
	s.mu.Lock()
	dev := s.dev
	s.dev = nil
	s.gen++
	s.mu.Unlock()
	if dev == nil || s.release(dev) {
		s.be.close() // the context outlives an abandoned device
	}
	s.timer.Stop()
	return nil
}
