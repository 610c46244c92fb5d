package capture

import (
	"cmp"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pion/mediadevices/pkg/driver"
	// The v4l2 camera driver registers in mediadevices' driver manager at
	// program start; that is quiet and cheap (it globs /dev/video*).
	// Screens are this package's own X11 driver (xscreen), counted when a
	// command needs them: it survives the X server's death, which
	// mediadevices' screen driver does not (Xlib exits the process).
	// Microphones are this package's own miniaudio driver (audiodev.go),
	// also started only when needed. The mediadevices test drivers are
	// deliberately not linked: the "test" sources are this package's own.
	_ "github.com/pion/mediadevices/pkg/driver/camera"

	"github.com/videochat/videochat/capture/xscreen"
)

// Device kinds reported by [Devices]. Other packages listing devices (the
// speakers of playback) add their own kinds with the same [Device] shape.
const (
	KindCamera     = "camera"
	KindScreen     = "screen"
	KindMicrophone = "microphone"
)

// Device describes a camera, screen or microphone. ID is stable across
// runs and is what Config.Camera, Config.Mic and --video screen:N accept.
type Device struct {
	ID      string `json:"id"`
	Label   string `json:"label"`
	Kind    string `json:"kind"`
	Default bool   `json:"default,omitempty"` // what Open picks when no id is given
	Modes   []Mode `json:"modes,omitempty"`
	// Error says why the modes are missing (device busy, …).
	Error string `json:"error,omitempty"`
}

// Mode is one way a device can deliver: video size, rate and pixel format,
// or audio rate, channels and sample format.
type Mode struct {
	Width    int     `json:"width,omitempty"`
	Height   int     `json:"height,omitempty"`
	FPS      float32 `json:"fps,omitempty"`
	Rate     int     `json:"rate,omitempty"`
	Channels int     `json:"channels,omitempty"`
	Format   string  `json:"format"`
}

func (m Mode) String() string {
	if m.Rate > 0 {
		return fmt.Sprintf("%d Hz %d ch %s", m.Rate, m.Channels, m.Format)
	}
	if m.FPS > 0 {
		return fmt.Sprintf("%dx%d@%g %s", m.Width, m.Height, m.FPS, m.Format)
	}
	return fmt.Sprintf("%dx%d %s", m.Width, m.Height, m.Format)
}

// Devices lists the cameras, screens and microphones, each kind in the
// order Open prefers them, with the modes of each (every device is opened
// briefly to learn them). Microphones that only record what an output
// plays (PulseAudio's ".monitor" sources) are listed but never picked by
// default. log receives the audio libraries' chatter at debug level.
func Devices(log *slog.Logger) ([]Device, error) {
	if log == nil {
		log = discardLogger()
	}
	var out []Device
	for i, d := range cameraDrivers() {
		dev := Device{ID: driverID(d), Label: driverLabel(d), Kind: KindCamera, Default: i == 0}
		dev.Modes, dev.Error = videoModes(d)
		out = append(out, dev)
	}
	for i, d := range screenDrivers() {
		dev := Device{ID: screenID(i), Label: "X11 " + d.Info().Label, Kind: KindScreen, Default: i == 0}
		dev.Modes, dev.Error = videoModes(d)
		out = append(out, dev)
	}
	mics, err := microphoneDevices(log)
	if err != nil {
		log.Debug("no microphones", "err", err)
	}
	return append(out, mics...), nil
}

func microphoneDevices(log *slog.Logger) ([]Device, error) {
	be, err := newAudioBackend(log)
	if err != nil {
		return nil, err
	}
	defer be.close()
	mics, err := be.microphones()
	if err != nil {
		return nil, err
	}
	dflt, _ := chooseMicrophone(mics, "")
	var out []Device
	for _, m := range mics {
		dev := Device{ID: m.ID, Label: m.Label, Kind: KindMicrophone, Default: m.ID == dflt.ID}
		for _, a := range m.modes {
			dev.Modes = append(dev.Modes, Mode{Rate: a.rate, Channels: a.channels, Format: a.formatName()})
		}
		out = append(out, dev)
	}
	return out, nil
}

// videoModes opens d to read its modes.
func videoModes(d driver.Driver) ([]Mode, string) {
	if err := d.Open(); err != nil {
		return nil, err.Error()
	}
	defer d.Close()
	var out []Mode
	for _, p := range d.Properties() {
		out = append(out, Mode{Width: p.Width, Height: p.Height, FPS: p.FrameRate, Format: string(p.FrameFormat)})
	}
	return out, ""
}

func driverLabel(d driver.Driver) string {
	info := d.Info()
	if label := strings.TrimSpace(strings.Trim(info.Name, ";")); label != "" {
		return label
	}
	return info.Label
}

// driverID is the stable id of a video driver: the first part of its
// label (the v4l2 driver's is "by-id name;videoN").
func driverID(d driver.Driver) string {
	first, _, _ := strings.Cut(d.Info().Label, ";")
	return first
}

func cameraDrivers() []driver.Driver {
	ds := driver.GetManager().Query(driver.FilterAnd(
		driver.FilterVideoRecorder(), driver.FilterDeviceType(driver.Camera)))
	sortDrivers(ds)
	return ds
}

// screenDrivers are the screens of $DISPLAY, by screen number.
func screenDrivers() []driver.Driver {
	var ds []driver.Driver
	for i := range xscreen.Screens() {
		ds = append(ds, xscreen.New(i))
	}
	return ds
}

func screenID(i int) string { return fmt.Sprintf("screen:%d", i) }

// sortDrivers orders drivers by priority (system default first), then label.
func sortDrivers(ds []driver.Driver) {
	slices.SortFunc(ds, func(a, b driver.Driver) int {
		if c := cmp.Compare(b.Info().Priority, a.Info().Priority); c != 0 {
			return c
		}
		return cmp.Compare(a.Info().Label, b.Info().Label)
	})
}

// pickDriver returns the first driver if id is empty, else the driver whose
// id, label, name or device path matches id.
func pickDriver(ds []driver.Driver, id string) (driver.Driver, error) {
	if len(ds) == 0 {
		return nil, fmt.Errorf("none available")
	}
	if id == "" {
		return ds[0], nil
	}
	for _, d := range ds {
		if driverMatches(d, id) {
			return d, nil
		}
	}
	var have []string
	for _, d := range ds {
		have = append(have, driverID(d))
	}
	return nil, fmt.Errorf("no device with id %q (devices: %s)", id, strings.Join(have, ", "))
}

func driverMatches(d driver.Driver, id string) bool {
	info := d.Info()
	first, _, _ := strings.Cut(info.Label, ";")
	return id == d.ID() || id == info.Label || id == info.Name || id == first ||
		filepath.Base(id) == first
}
