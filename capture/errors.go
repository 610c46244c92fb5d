package capture

import "errors"

// Sentinel errors. The errors returned by [Open] wrap them; their text is one
// line naming what is missing and how to go on.
var (
	// ErrNoCamera means that no usable camera matched the configuration.
	ErrNoCamera = errors.New("no camera found")
	// ErrNoMicrophone means that no usable microphone matched the
	// configuration. ALSA's "null" device does not count as a microphone.
	ErrNoMicrophone = errors.New("no microphone found")
	// ErrNoScreen means that the X11 screen asked for does not exist (or
	// DISPLAY is not set).
	ErrNoScreen = errors.New("no screen found")
	// ErrDeviceBusy means that a camera or microphone exists but would
	// not start: another program uses it (EBUSY) or the sound server
	// refused the stream. Open finds it, not the middle of a call.
	ErrDeviceBusy = errors.New("device busy or refused")
	// ErrClosed is returned when a track of a closed [Media] is bound.
	ErrClosed = errors.New("capture: media closed")
)
