package capture

import (
	"errors"
	"fmt"
	"time"

	"github.com/pion/mediadevices/pkg/driver"
	"github.com/pion/mediadevices/pkg/io/audio"
	"github.com/pion/mediadevices/pkg/prop"
	"github.com/pion/mediadevices/pkg/wave"
)

// findMicrophone returns the microphone driver cfg asks for and the mode to
// record in, or an error wrapping ErrNoMicrophone.
func findMicrophone(cfg Config) (driver.Driver, prop.Media, error) {
	d, err := pickDriver(microphoneDrivers(), cfg.Mic)
	if err != nil {
		return nil, prop.Media{}, noMicrophone(cfg, err)
	}
	p, ok := bestMicProp(d.Properties())
	if !ok {
		return nil, prop.Media{}, noMicrophone(cfg, errors.New("no supported format"))
	}
	return d, p, nil
}

func noMicrophone(cfg Config, cause error) error {
	which := ""
	if cfg.Mic != "" {
		which = fmt.Sprintf(" (--mic %q: %v)", cfg.Mic, cause)
	}
	return fmt.Errorf("%w%s: use --audio test, or list devices with `videochat devices`", ErrNoMicrophone, which)
}

// bestMicProp picks a 48 kHz mode with one or two channels in a sample
// format the driver decodes (16-bit integer or 32-bit float). Other modes
// make the driver panic on its first read.
func bestMicProp(props []prop.Media) (prop.Media, bool) {
	var best prop.Media
	found := false
	for _, p := range props {
		if p.ChannelCount < 1 || p.ChannelCount > 2 || p.SampleRate != audioRate || !p.IsInterleaved {
			continue
		}
		if !(p.SampleSize == 2 && !p.IsFloat) && !(p.SampleSize == 4 && p.IsFloat) {
			continue
		}
		// Prefer mono (what Opus is sent as), then 16-bit.
		if !found || p.ChannelCount < best.ChannelCount ||
			(p.ChannelCount == best.ChannelCount && p.SampleSize < best.SampleSize) {
			best, found = p, true
		}
	}
	best.Latency = audioFrame
	return best, found
}

// micSource records from a microphone through mediadevices.
type micSource struct {
	d        driver.Driver
	r        audio.Reader
	channels int
}

func openMicrophone(d driver.Driver, p prop.Media) (*micSource, error) {
	rec, ok := d.(driver.AudioRecorder)
	if !ok {
		return nil, errors.New("microphone: driver cannot record audio")
	}
	if err := d.Open(); err != nil {
		return nil, fmt.Errorf("microphone %s: %w", d.Info().Label, err)
	}
	r, err := rec.AudioRecord(p)
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("microphone %s: %w", d.Info().Label, err)
	}
	return &micSource{d: d, r: r, channels: p.ChannelCount}, nil
}

func (m *micSource) Interval() time.Duration { return 0 }
func (m *micSource) Channels() int           { return m.channels }
func (m *micSource) Close() error            { return m.d.Close() }

// Read blocks until the device delivers audio. A panic in the driver (it
// panics on formats it cannot decode) becomes an error.
func (m *micSource) Read() (chunk wave.Audio, release func(), err error) {
	defer func() {
		if r := recover(); r != nil {
			chunk, release, err = nil, func() {}, fmt.Errorf("microphone: driver failed: %v", r)
		}
	}()
	return m.r.Read()
}
