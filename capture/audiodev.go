package capture

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/gen2brain/malgo"

	"github.com/videochat/videochat/capture/audiodev"
)

// audioBackend is the microphone driver of this package: capture devices
// of an audiodev context, with the modes they record in.
type audioBackend struct {
	*audiodev.Context
	log *slog.Logger
}

func newAudioBackend(log *slog.Logger) (*audioBackend, error) {
	c, err := audiodev.Open(log)
	if err != nil {
		return nil, err
	}
	return &audioBackend{Context: c, log: log}, nil
}

func (b *audioBackend) close() { b.Close() }

// micInfo is one capture device as the backend reports it.
type micInfo struct {
	audiodev.Device             // ID: PulseAudio's source name, ALSA's hw:…
	monitor         bool        // records what an output plays, not a microphone
	modes           []audioMode // empty until probed
}

// audioMode is one native format of a capture device.
type audioMode struct {
	rate, channels int
	format         malgo.FormatType
}

func (m audioMode) formatName() string {
	switch m.format {
	case malgo.FormatS16:
		return "s16"
	case malgo.FormatF32:
		return "f32"
	case malgo.FormatU8:
		return "u8"
	case malgo.FormatS24:
		return "s24"
	case malgo.FormatS32:
		return "s32"
	}
	return "unknown"
}

// exclusive reports whether a device can be busy in another program (ALSA
// hardware); a sound server shares its sources.
func (b *audioBackend) exclusive() bool { return b.Exclusive() }

// microphones enumerates the capture devices and their modes. Devices that
// cannot be opened to read their modes (ALSA lists every PCM plugin, most
// of which are not devices) and ALSA's "null" device are left out.
func (b *audioBackend) microphones() ([]micInfo, error) {
	devs, err := b.Devices(malgo.Capture)
	if err != nil {
		return nil, err
	}
	var out []micInfo
	for _, d := range devs {
		m := micInfo{Device: d}
		m.monitor = strings.HasSuffix(m.ID, ".monitor") || strings.HasPrefix(m.Label, "Monitor of ")
		if err := b.probe(&m); err != nil {
			b.log.Debug("capture device skipped", "id", m.ID, "err", err)
			continue
		}
		out = append(out, m)
	}
	return out, nil
}

// probe (re)reads m.modes from the device's native formats: what it can
// deliver without conversion by the sound system. Formats with a zero rate
// or channel count mean "any"; they are expanded to the usual values.
func (b *audioBackend) probe(m *micInfo) error {
	info, err := b.DeviceInfo(malgo.Capture, m.Device)
	if err != nil {
		return fmt.Errorf("microphone %s: %w", m.ID, err)
	}
	m.modes = m.modes[:0]
	for _, f := range info.Formats {
		rates := []int{int(f.SampleRate)}
		if f.SampleRate == 0 {
			rates = []int{48000, 44100, 32000, 16000}
		}
		chans := []int{int(f.Channels)}
		if f.Channels == 0 {
			chans = []int{1, 2}
		}
		formats := []malgo.FormatType{f.Format}
		if f.Format == malgo.FormatUnknown {
			formats = []malgo.FormatType{malgo.FormatS16, malgo.FormatF32}
		}
		for _, r := range rates {
			for _, c := range chans {
				for _, ft := range formats {
					m.modes = append(m.modes, audioMode{rate: r, channels: c, format: ft})
				}
			}
		}
	}
	return nil
}

// supportedRates are the capture rates converted to 48 kHz.
var supportedRates = []int{8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000}

func (m audioMode) supported() bool {
	if m.channels < 1 || m.channels > 8 {
		return false
	}
	if m.format != malgo.FormatS16 && m.format != malgo.FormatF32 {
		return false
	}
	for _, r := range supportedRates {
		if m.rate == r {
			return true
		}
	}
	return false
}

// bestAudioMode picks the mode to record in: 48 kHz if offered (no
// resampling), else the highest supported rate; then the fewest channels
// (everything is mixed down to mono); then 16-bit over float.
func bestAudioMode(modes []audioMode) (audioMode, bool) {
	var best audioMode
	found := false
	better := func(a, b audioMode) bool {
		if (a.rate == audioRate) != (b.rate == audioRate) {
			return a.rate == audioRate
		}
		if a.rate != b.rate {
			return a.rate > b.rate
		}
		if a.channels != b.channels {
			return a.channels < b.channels
		}
		return a.format == malgo.FormatS16 && b.format != malgo.FormatS16
	}
	for _, m := range modes {
		if !m.supported() {
			continue
		}
		if !found || better(m, best) {
			best, found = m, true
		}
	}
	return best, found
}

// micPeriodMillis is the capture period: one Opus frame. Each period
// wakes the sound library's thread, the Go callback and the reader; at
// 20 ms the capture costs ≈ 30 % less CPU than at 10 ms (BENCHMARKS.md)
// for 10 ms more latency.
const micPeriodMillis = 20

// startCapture starts recording m from the device in mode. data receives
// the device's interleaved samples on miniaudio's thread; stopped is called
// when the device stops by itself (unplugged, sound server gone).
// periodMillis 0 is micPeriodMillis.
func (b *audioBackend) startCapture(m micInfo, mode audioMode, periodMillis int, data func([]byte), stopped func()) (*malgo.Device, error) {
	if periodMillis <= 0 {
		periodMillis = micPeriodMillis
	}
	cfg := malgo.DefaultDeviceConfig(malgo.Capture)
	cfg.Capture.Format = mode.format
	cfg.Capture.Channels = uint32(mode.channels)
	cfg.SampleRate = uint32(mode.rate)
	cfg.PeriodSizeInMilliseconds = uint32(periodMillis)
	cfg.PerformanceProfile = malgo.LowLatency
	dev, err := b.Start(&m.Device, cfg, malgo.DeviceCallbacks{
		Data: func(_, in []byte, _ uint32) { data(in) },
		Stop: stopped,
	})
	if err != nil {
		return nil, fmt.Errorf("microphone %s: open %d Hz %d ch %s: %w", m.ID, mode.rate, mode.channels, mode.formatName(), err)
	}
	return dev, nil
}

// chooseMicrophone returns the device id asks for ("" = the system's
// default source if it is not a monitor, else the first microphone that is
// not a monitor). A monitor is used only when asked for by id.
func chooseMicrophone(mics []micInfo, id string) (micInfo, error) {
	if id != "" {
		for _, m := range mics {
			if m.ID == id || m.Label == id || m.Raw.String() == id {
				return m, nil
			}
		}
		return micInfo{}, fmt.Errorf("no microphone with id %q", id)
	}
	for _, m := range mics {
		if m.Default && !m.monitor {
			return m, nil
		}
	}
	for _, m := range mics {
		if !m.monitor {
			return m, nil
		}
	}
	if len(mics) > 0 {
		return micInfo{}, errors.New("only monitors of outputs (name one with --mic to record what it plays)")
	}
	return micInfo{}, errors.New("none available")
}
