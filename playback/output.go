package playback

// Outputs: a speaker through miniaudio (malgo, the audio stack the
// microphone driver of mediadevices uses), or a clock that pulls the mixer
// in real time and discards the audio (--speaker none, or no device). Both
// pull the mixer every device period, so decoding, levels, statistics and
// SenderTimeNow work the same with or without a speaker.
//
// Invariants: a Player owns its malgo context and device, or its clock
// goroutine; Close stops the pulling before it returns and is idempotent.

/*
#include <stdlib.h>
*/
import "C"

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/gen2brain/malgo"
)

// SpeakerNone is the --speaker value that plays nothing.
const SpeakerNone = "none"

// ErrNoSpeaker is returned for a speaker id that names no output device.
var ErrNoSpeaker = errors.New("no such speaker")

const (
	periodMillis = 20
	periods      = 3
)

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
	ctx    *malgo.AllocatedContext
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
	err := p.openDevice(cfg.Speaker)
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

func (p *Player) openDevice(id string) (err error) {
	ctx, err := malgo.InitContext(nil, malgo.ContextConfig{}, nil)
	if err != nil {
		return fmt.Errorf("audio backend: %w", err)
	}
	defer func() {
		if err != nil {
			_ = ctx.Uninit()
			ctx.Free()
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
	if id != "" {
		info, ferr := findSpeaker(ctx, id)
		if ferr != nil {
			return ferr
		}
		ptr := info.ID.Pointer()
		defer C.free(ptr)
		cfg.Playback.DeviceID = ptr
		name = speakerID(info)
	}
	m := p.Mixer
	cb := malgo.DeviceCallbacks{Data: func(out, _ []byte, frames uint32) {
		if len(out) < int(frames)*2 || frames == 0 {
			return
		}
		m.SetLatency(time.Duration(frames*periods) * time.Second / Rate)
		m.Read(unsafe.Slice((*int16)(unsafe.Pointer(&out[0])), frames))
	}}
	dev, err := malgo.InitDevice(ctx.Context, cfg, cb)
	if err != nil {
		return fmt.Errorf("open speaker %s: %w", name, err)
	}
	m.SetLatency(periods * periodMillis * time.Millisecond)
	if err := dev.Start(); err != nil {
		dev.Uninit()
		return fmt.Errorf("start speaker %s: %w", name, err)
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
			_ = p.ctx.Uninit()
			p.ctx.Free()
		}
		if p.clock != nil {
			p.clock.stop()
		}
	})
}

// Speakers lists the audio output devices, the system default first.
func Speakers() ([]Device, error) {
	ctx, err := malgo.InitContext(nil, malgo.ContextConfig{}, nil)
	if err != nil {
		return nil, fmt.Errorf("audio backend: %w", err)
	}
	defer func() { _ = ctx.Uninit(); ctx.Free() }()
	infos, err := ctx.Devices(malgo.Playback)
	if err != nil {
		return nil, fmt.Errorf("list speakers: %w", err)
	}
	slices.SortStableFunc(infos, func(a, b malgo.DeviceInfo) int { return cmp.Compare(b.IsDefault, a.IsDefault) })
	var out []Device
	for _, info := range infos {
		id := speakerID(info)
		if alsaNonOutput(id) {
			continue
		}
		out = append(out, Device{ID: id, Label: info.Name(), Kind: KindSpeaker})
	}
	return out, nil
}

// alsaNonOutput reports the ALSA plugin PCMs that miniaudio lists as
// playback devices on a machine without a sound server but that are no
// speaker: the "null" sink and rate, channel and DSP converters.
func alsaNonOutput(id string) bool {
	switch id {
	case "null", "lavrate", "samplerate", "speexrate", "speex", "upmix", "vdownmix", "a52":
		return true
	}
	return false
}

func findSpeaker(ctx *malgo.AllocatedContext, id string) (malgo.DeviceInfo, error) {
	infos, err := ctx.Devices(malgo.Playback)
	if err != nil {
		return malgo.DeviceInfo{}, fmt.Errorf("list speakers: %w", err)
	}
	for _, info := range infos {
		if speakerID(info) == id || info.Name() == id {
			return info, nil
		}
	}
	return malgo.DeviceInfo{}, fmt.Errorf("%w %q (see `videochat devices`)", ErrNoSpeaker, id)
}

// speakerID is the backend's own name of a device: the device id bytes
// (a PulseAudio sink name, an ALSA device string) up to the first NUL.
func speakerID(info malgo.DeviceInfo) string {
	b := info.ID[:]
	if i := slices.Index(b, 0); i >= 0 {
		b = b[:i]
	}
	s := string(b)
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			return info.ID.String()
		}
	}
	return strings.TrimSpace(s)
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
