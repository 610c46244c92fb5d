// Package audiodev is the one door to the sound system: a quiet miniaudio
// (malgo) context and the enumeration of its capture and playback devices
// with readable ids. capture's microphone and playback's speaker both open
// their devices through it.
//
// Invariants: a Context is created when a command needs a sound device
// (never at program start) and freed once by its owner's Close. PulseAudio
// (which PipeWire also serves) is tried first, then ALSA; JACK is never
// used. Everything the C libraries print on fd 2 while the context starts,
// enumerates or opens a device goes to the debug log (Quietly), so
// `videochat devices` stays quiet on a machine without a sound card.
package audiodev

// #include <stdlib.h>
import "C"

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/gen2brain/malgo"
)

// Context is one miniaudio context.
type Context struct {
	ctx     *malgo.AllocatedContext
	log     *slog.Logger
	backend malgo.Backend
}

// Open creates the context on the first backend that starts.
func Open(log *slog.Logger) (*Context, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var ctx *malgo.AllocatedContext
	var err error
	var chosen malgo.Backend
	Quietly(log, func() {
		for _, be := range []malgo.Backend{malgo.BackendPulseaudio, malgo.BackendAlsa} {
			ctx, err = malgo.InitContext([]malgo.Backend{be}, malgo.ContextConfig{}, func(msg string) {
				log.Debug("miniaudio", "says", strings.TrimSpace(msg))
			})
			if err == nil {
				chosen = be
				return
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("audio: no sound system (PulseAudio, PipeWire or ALSA): %w", err)
	}
	c := &Context{ctx: ctx, log: log, backend: chosen}
	log.Debug("audio backend", "backend", c.Backend())
	return c, nil
}

// Close frees the context; devices opened on it must be uninitialised
// first.
func (c *Context) Close() {
	if c.ctx != nil {
		_ = c.ctx.Uninit()
		c.ctx.Free()
		c.ctx = nil
	}
}

// Backend names the sound system in use: "pulseaudio" or "alsa".
func (c *Context) Backend() string {
	switch c.backend {
	case malgo.BackendPulseaudio:
		return "pulseaudio"
	case malgo.BackendAlsa:
		return "alsa"
	}
	return fmt.Sprint(int(c.backend))
}

// Exclusive reports whether a device can be busy in another program (ALSA
// hardware); a sound server shares its devices.
func (c *Context) Exclusive() bool { return c.backend != malgo.BackendPulseaudio }

// Quietly runs fn with the libraries' fd-2 chatter sent to the debug log.
func (c *Context) Quietly(fn func()) { Quietly(c.log, fn) }

// Device is one capture or playback device as the backend reports it.
type Device struct {
	ID      string // readable id: PulseAudio's source or sink name, ALSA's hw:…
	Label   string
	Default bool
	Raw     malgo.DeviceID
}

// Devices enumerates the devices of kind (malgo.Capture or
// malgo.Playback) in the backend's order. ALSA's "null" device, which
// records silence and plays nowhere, is left out.
func (c *Context) Devices(kind malgo.DeviceType) ([]Device, error) {
	var infos []malgo.DeviceInfo
	var err error
	c.Quietly(func() { infos, err = c.ctx.Devices(kind) })
	if err != nil {
		return nil, fmt.Errorf("audio: list %s devices: %w", kindName(kind), err)
	}
	var out []Device
	for _, in := range infos {
		d := Device{ID: ReadableID(in.ID), Label: strings.TrimSpace(in.Name()), Default: in.IsDefault != 0, Raw: in.ID}
		if isNullDevice(d.ID, d.Label) {
			continue
		}
		out = append(out, d)
	}
	return out, nil
}

// DeviceInfo reads a device's details, its native formats among them.
func (c *Context) DeviceInfo(kind malgo.DeviceType, d Device) (malgo.DeviceInfo, error) {
	var info malgo.DeviceInfo
	var err error
	c.Quietly(func() { info, err = c.ctx.DeviceInfo(kind, d.Raw, malgo.Shared) })
	return info, err
}

// Start opens and starts device d (nil: the system default) of cfg's
// DeviceType, configured by cfg, on this context.
func (c *Context) Start(d *Device, cfg malgo.DeviceConfig, cb malgo.DeviceCallbacks) (*malgo.Device, error) {
	if d != nil {
		id := C.CBytes(d.Raw[:])
		defer C.free(id)
		if cfg.DeviceType == malgo.Capture {
			cfg.Capture.DeviceID = id
		} else {
			cfg.Playback.DeviceID = id
		}
	}
	var dev *malgo.Device
	var err error
	c.Quietly(func() {
		dev, err = malgo.InitDevice(c.ctx.Context, cfg, cb)
		if err == nil {
			if err = dev.Start(); err != nil {
				dev.Uninit()
			}
		}
	})
	return dev, err
}

func kindName(k malgo.DeviceType) string {
	if k == malgo.Capture {
		return "capture"
	}
	return "playback"
}

// ReadableID is the device id as text: miniaudio's ids are C unions
// holding a PulseAudio source or sink name or an ALSA device string.
func ReadableID(id malgo.DeviceID) string {
	b := id[:]
	if i := slices.Index(b, 0); i >= 0 {
		b = b[:i]
	}
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return id.String()
		}
	}
	if s := strings.TrimSpace(string(b)); s != "" {
		return s
	}
	return id.String()
}

// isNullDevice reports ALSA's "null" device.
func isNullDevice(id, label string) bool {
	for _, s := range []string{id, label} {
		s = strings.ToLower(strings.TrimSpace(s))
		if s == "null" || strings.HasPrefix(s, "null;") || strings.HasPrefix(s, "discard all samples") {
			return true
		}
	}
	return false
}
