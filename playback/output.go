package playback

// Outputs: a speaker through miniaudio (malgo, on the quiet context of
// capture/audiodev that the microphone uses too), or a clock that pulls the mixer
// in real time and discards the audio (--speaker none, or no device). Both
// pull the mixer every device period, so decoding, levels, statistics and
// SenderTimeNow work the same with or without a speaker.
//
// Invariants: a Player owns its malgo context and device, or its clock
// goroutine; Close stops the pulling before it returns and is idempotent.

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
	"unsafe"

	"github.com/gen2brain/malgo"

	"github.com/videochat/videochat/capture/audiodev"
)

// SpeakerNone is the --speaker value that plays nothing.
const SpeakerNone = "none"

// ErrNoSpeaker is returned for a speaker id that names no output device.
var ErrNoSpeaker = errors.New("no such speaker")

const (
	periodMillis = 20
	periods      = 3
)

// latencyPeriods is how many device periods a sample handed over in the
// callback waits before it is heard, which lip sync adds to the hand-off
// time (Mixer.SetLatency). miniaudio's PulseAudio backend asks for a total
// latency (tlength, with PA_STREAM_ADJUST_LATENCY) of one period, the
// periods only sizing the buffer's maximum (ma_device__pa_buffer_attr_new);
// measured here: 21 ms with 20 ms periods (TestSpeakerClock). ALSA plays
// through the whole ring of periods.
func latencyPeriods(backend string) int {
	if backend == "pulseaudio" {
		return 1
	}
	return periods
}

// Device is an audio output device. ID is the system's own name (for
// PulseAudio, the sink name) and is what Config.Speaker accepts.
type Device struct {
	ID    string `json:"id"`
	Label string `json:"label"`
	Kind  string `json:"kind"`
}

// KindSpeaker is the Kind of the devices Speakers returns.
const KindSpeaker = "speaker"

// Config configures a Player.
type Config struct {
	// Speaker is the output device id, "" for the system default, or
	// SpeakerNone.
	Speaker string
	Logger  *slog.Logger
}

// Player mixes the remote streams and plays them on one output.
type Player struct {
	*Mixer
	log    *slog.Logger
	ctx    *audiodev.Context
	dev    *malgo.Device
	clock  *clockOutput
	closed sync.Once
	device string // what plays: the device's name, or "" for none
}

// New opens the output. An explicit Speaker that does not exist is
// ErrNoSpeaker; a default output that cannot be opened is one warning and
// a Player that plays nothing (the call still works).
func New(cfg Config) (*Player, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Player{Mixer: NewMixer(MixerConfig{Logger: cfg.Logger}), log: cfg.Logger}
	if cfg.Speaker == SpeakerNone {
		p.clock = startClock(p.Mixer)
		return p, nil
	}
	err := p.openDevice(cfg.Speaker, cfg.Logger)
	if err == nil {
		return p, nil
	}
	if cfg.Speaker != "" {
		return nil, err
	}
	p.log.Warn("no audio output device: remote audio is not played (the call goes on)", "err", err)
	p.clock = startClock(p.Mixer)
	return p, nil
}

// Output is the name of the device being played to, or "" when none.
func (p *Player) Output() string { return p.device }

func (p *Player) openDevice(id string, log *slog.Logger) (err error) {
	ctx, err := audiodev.Open(log)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			ctx.Close()
		}
	}()
	cfg := malgo.DefaultDeviceConfig(malgo.Playback)
	cfg.Playback.Format = malgo.FormatS16
	cfg.Playback.Channels = 1
	cfg.SampleRate = Rate
	cfg.PeriodSizeInMilliseconds = periodMillis
	cfg.Periods = periods
	cfg.PerformanceProfile = malgo.LowLatency
	cfg.Pulse.StreamNamePlayback = "videochat"
	name := "default"
	var spk *audiodev.Device
	if id != "" {
		d, ferr := findSpeaker(ctx, id)
		if ferr != nil {
			return ferr
		}
		spk, name = &d, d.ID
	}
	m := p.Mixer
	lp := uint32(latencyPeriods(ctx.Backend()))
	cb := malgo.DeviceCallbacks{Data: func(out, _ []byte, frames uint32) {
		if len(out) < int(frames)*2 || frames == 0 {
			return
		}
		m.SetLatency(time.Duration(frames*lp) * time.Second / Rate)
		m.Read(unsafe.Slice((*int16)(unsafe.Pointer(&out[0])), frames))
	}}
	m.SetLatency(time.Duration(lp) * periodMillis * time.Millisecond)
	dev, err := ctx.Start(spk, cfg, cb)
	if err != nil {
		return fmt.Errorf("open speaker %s: %w", name, err)
	}
	p.ctx, p.dev, p.device = ctx, dev, name
	p.log.Info("playing remote audio", "speaker", name)
	return nil
}

// Close stops the output. Streams still open keep their decoders until
// their own Close.
func (p *Player) Close() {
	p.closed.Do(func() {
		if p.dev != nil {
			p.dev.Uninit()
		}
		if p.ctx != nil {
			p.ctx.Close()
		}
		if p.clock != nil {
			p.clock.stop()
		}
	})
}

// Speakers lists the audio output devices, the system default first. What
// the sound libraries print meanwhile goes to log at debug level.
func Speakers(log *slog.Logger) ([]Device, error) {
	ctx, err := audiodev.Open(log)
	if err != nil {
		return nil, err
	}
	defer ctx.Close()
	devs, err := speakers(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Device, 0, len(devs))
	for _, d := range devs {
		out = append(out, Device{ID: d.ID, Label: d.Label, Kind: KindSpeaker})
	}
	return out, nil
}

// speakers are the playback devices that are outputs, the default first.
func speakers(ctx *audiodev.Context) ([]audiodev.Device, error) {
	devs, err := ctx.Devices(malgo.Playback)
	if err != nil {
		return nil, err
	}
	devs = slices.DeleteFunc(devs, func(d audiodev.Device) bool { return alsaNonOutput(d.ID) })
	slices.SortStableFunc(devs, func(a, b audiodev.Device) int {
		switch {
		case a.Default == b.Default:
			return 0
		case a.Default:
			return -1
		}
		return 1
	})
	return devs, nil
}

// alsaNonOutput reports the ALSA plugin PCMs that miniaudio lists as
// playback devices on a machine without a sound server but that are no
// speaker: rate, channel and DSP converters (audiodev already leaves out
// the "null" sink).
func alsaNonOutput(id string) bool {
	switch id {
	case "lavrate", "samplerate", "speexrate", "speex", "upmix", "vdownmix", "a52":
		return true
	}
	return false
}

func findSpeaker(ctx *audiodev.Context, id string) (audiodev.Device, error) {
	devs, err := ctx.Devices(malgo.Playback)
	if err != nil {
		return audiodev.Device{}, err
	}
	for _, d := range devs {
		if d.ID == id || d.Label == id {
			return d, nil
		}
	}
	return audiodev.Device{}, fmt.Errorf("%w %q (see `videochat devices`)", ErrNoSpeaker, id)
}

// clockOutput pulls the mixer in real time and discards the audio.
type clockOutput struct {
	done chan struct{}
	wg   sync.WaitGroup
}

func startClock(m *Mixer) *clockOutput {
	c := &clockOutput{done: make(chan struct{})}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.run(m)
	}()
	return c
}

func (c *clockOutput) run(m *Mixer) {
	t := time.NewTicker(periodMillis * time.Millisecond)
	defer t.Stop()
	buf := make([]int16, Rate/10)
	last := time.Now()
	var owed time.Duration
	for {
		select {
		case <-c.done:
			return
		case now := <-t.C:
			// A tick's time can be before last (the goroutine started
			// late, after the first tick was due): no time is owed then.
			if d := now.Sub(last); d > 0 {
				owed += d
				last = now
			}
			n := min(int(owed*Rate/time.Second), len(buf))
			if n == 0 {
				continue
			}
			owed -= time.Duration(n) * time.Second / Rate
			owed = min(owed, 100*time.Millisecond) // after a stall, catch up at most this much
			m.Read(buf[:n])
		}
	}
}

func (c *clockOutput) stop() {
	close(c.done)
	c.wg.Wait()
}
