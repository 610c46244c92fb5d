package capture

import (
	"cmp"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pion/mediadevices/pkg/driver"
	// Registered drivers: v4l2 cameras and miniaudio microphones. The
	// mediadevices test drivers are deliberately not linked: the "test"
	// sources are this package's own, so a driver is never picked by luck.
	_ "github.com/pion/mediadevices/pkg/driver/camera"
	_ "github.com/pion/mediadevices/pkg/driver/microphone"
)

// Device kinds reported by [Devices].
const (
	KindCamera     = "camera"
	KindMicrophone = "microphone"
)

// Device describes a camera or a microphone. ID is stable across runs and
// is what Config.Camera and Config.Mic accept.
type Device struct {
	ID    string `json:"id"`
	Label string `json:"label"`
	Kind  string `json:"kind"`
}

// Devices lists the cameras and the real microphones (ALSA's "null" device
// is left out), cameras first, each kind in the order [Open] prefers them.
func Devices() ([]Device, error) {
	var out []Device
	for _, d := range cameraDrivers() {
		out = append(out, describe(d, KindCamera))
	}
	for _, d := range microphoneDrivers() {
		out = append(out, describe(d, KindMicrophone))
	}
	return out, nil
}

func describe(d driver.Driver, kind string) Device {
	info := d.Info()
	label := strings.TrimSpace(strings.Trim(info.Name, ";"))
	if label == "" {
		label = info.Label
	}
	return Device{ID: deviceID(info), Label: label, Kind: kind}
}

// deviceID is the stable, readable id of a driver: its label, except that
// the microphone driver hex-encodes the backend's device id ("null" is
// "6e756c6c"), which is decoded when it is printable.
func deviceID(info driver.Info) string {
	if info.DeviceType != driver.Microphone {
		return info.Label
	}
	b, err := hex.DecodeString(info.Label)
	if err != nil || len(b) == 0 {
		return info.Label
	}
	s := strings.TrimRight(string(b), "\x00")
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			return info.Label
		}
	}
	return s
}

func cameraDrivers() []driver.Driver {
	ds := driver.GetManager().Query(driver.FilterAnd(
		driver.FilterVideoRecorder(), driver.FilterDeviceType(driver.Camera)))
	sortDrivers(ds)
	return ds
}

func microphoneDrivers() []driver.Driver {
	ds := driver.GetManager().Query(driver.FilterAnd(
		driver.FilterAudioRecorder(), driver.FilterDeviceType(driver.Microphone)))
	ds = slices.DeleteFunc(ds, isNullMicrophone)
	sortDrivers(ds)
	return ds
}

// isNullMicrophone reports whether d is ALSA's "null" device, which records
// silence and whose reads crash the driver.
func isNullMicrophone(d driver.Driver) bool {
	info := d.Info()
	for _, s := range []string{deviceID(info), info.Label, info.Name} {
		s = strings.ToLower(strings.TrimSpace(s))
		if s == "null" || strings.HasPrefix(s, "null;") || strings.HasPrefix(s, "discard all samples") {
			return true
		}
	}
	return false
}

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
// ID, label, name or device path matches id.
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
	return nil, fmt.Errorf("no device with id %q", id)
}

func driverMatches(d driver.Driver, id string) bool {
	info := d.Info()
	first, _, _ := strings.Cut(info.Label, ";")
	return id == d.ID() || id == info.Label || id == deviceID(info) || id == info.Name || id == first ||
		filepath.Base(id) == first
}
