package capture

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Values of Config.Video and Config.Audio besides file paths.
const (
	SourceNone   = "none"
	SourceTest   = "test"
	SourceCamera = "camera"
	SourceMic    = "mic"
	// SourceScreen is the first X11 screen; "screen:N" is screen N.
	SourceScreen = "screen"
)

// DefaultScreenFPS is the frame rate of screen capture when Config.FPS is 0.
const DefaultScreenFPS = 15

// screenNumber parses "screen" and "screen:N".
func screenNumber(src string) (int, bool) {
	if src == SourceScreen {
		return 0, true
	}
	rest, ok := strings.CutPrefix(src, SourceScreen+":")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 {
		return -1, true
	}
	return n, true
}

// Defaults applied by [Open] to zero fields of [Config].
const (
	DefaultWidth        = 640
	DefaultHeight       = 480
	DefaultFPS          = 30
	DefaultVideoBitrate = 1_000_000
	// DefaultMinVideoBitrate is the lowest target an adaptive video
	// encoder is given, bits/s.
	DefaultMinVideoBitrate = 60_000
	// DefaultAudioBitrate is the Opus target bitrate for live audio, bits/s.
	DefaultAudioBitrate = 32_000
)

// Config selects the media sources and encoding parameters of [Open].
type Config struct {
	// Video is "camera", "screen" or "screen:N" (X11), "test", "none"
	// (or ""), a path to a .y4m file
	// (raw 4:2:0, encoded live and looped) or a .ivf file (VP8, sent as is
	// and looped), or a stream from another program: "-" (Stdin),
	// tcp://HOST:PORT or unix:PATH carrying H.264 Annex-B or IVF (sent as
	// is) or Y4M (encoded live), detected from the first bytes.
	Video string
	// Audio is "mic", "test", "none" (or ""), a path to an .ogg file
	// (Opus, sent as is and looped), or a stream ("-", tcp://, unix:) of
	// Ogg/Opus.
	Audio string
	// Stdin is read by a "-" source (at most one of Video and Audio). Its
	// Close must make a pending Read return (an *os.File of a pipe in
	// non-blocking mode, a net.Conn, an io.Pipe); Media.Close closes it.
	Stdin io.ReadCloser
	// InputTimeout bounds how long Open waits for a stream source to
	// connect and show its format; default 15 s.
	InputTimeout time.Duration
	// Camera is the camera's device id ("" = first camera).
	Camera string
	// Mic is the microphone's device id ("" = the system's default source,
	// or the first microphone; never a monitor of an output).
	Mic string
	// Name is shown on the black frames sent while a camera or screen is
	// lost.
	Name string
	// Width, Height and FPS of camera and test video; default 640x480@30
	// (15 fps for screens). Camera and screen frames are scaled to fit
	// Width×Height. Y4M files keep their own size and rate. FPS also caps
	// the rate of an H.264 stream, which has no timestamps.
	Width, Height, FPS int
	// VideoBitrate is the target of live video encoders in bits/s; default
	// 1,000,000. With Estimate it is the ceiling.
	VideoBitrate int
	// MinVideoBitrate is the floor of adaptive encoder targets in bits/s;
	// default DefaultMinVideoBitrate.
	MinVideoBitrate int
	// Estimate, when set, returns the bandwidth available for video
	// towards the binding (one PeerConnection's sender) with this SSRC, in
	// bits/s; ok is false while it is unknown. Live video then adapts:
	// layers per codec, each at most the estimate of every receiver on it
	// (see layers.go). Nil: every receiver gets VideoBitrate.
	Estimate func(ssrc uint32) (bps int, ok bool)
	// AudioLoss, when set, returns the highest fraction of packets lost
	// towards any receiver; live audio then switches Opus in-band FEC on
	// from 1 % loss. Nil: no FEC.
	AudioLoss func() float64
	// Logger receives the package's logs; nil discards them.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Width <= 0 {
		c.Width = DefaultWidth
	}
	if c.Height <= 0 {
		c.Height = DefaultHeight
	}
	if _, screen := screenNumber(c.Video); c.FPS <= 0 && screen {
		c.FPS = DefaultScreenFPS
	}
	if c.FPS <= 0 {
		c.FPS = DefaultFPS
	}
	if c.VideoBitrate <= 0 {
		c.VideoBitrate = DefaultVideoBitrate
	}
	if c.InputTimeout <= 0 {
		c.InputTimeout = DefaultInputTimeout
	}
	if c.MinVideoBitrate <= 0 {
		c.MinVideoBitrate = DefaultMinVideoBitrate
	}
	c.MinVideoBitrate = min(c.MinVideoBitrate, c.VideoBitrate)
	if c.Logger == nil {
		c.Logger = discardLogger()
	}
	if c.Video == "" {
		c.Video = SourceNone
	}
	if c.Audio == "" {
		c.Audio = SourceNone
	}
	return c
}

func (c Config) validate() error {
	if c.Width%2 != 0 || c.Height%2 != 0 {
		return fmt.Errorf("video size %dx%d: width and height must be even", c.Width, c.Height)
	}
	if c.Video == SourceStdin && c.Audio == SourceStdin {
		return errors.New("--video - and --audio -: only one source can read standard input; give the other a socket (tcp://HOST:PORT, unix:PATH)")
	}
	if c.Width > 4096 || c.Height > 4096 || c.FPS > 120 {
		return fmt.Errorf("video %dx%d@%d: too large (max 4096x4096@120)", c.Width, c.Height, c.FPS)
	}
	return nil
}

// fileKind returns the lower-case extension of a source path ("y4m", …).
func fileKind(path string) string {
	return strings.TrimPrefix(strings.ToLower(filepath.Ext(path)), ".")
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
