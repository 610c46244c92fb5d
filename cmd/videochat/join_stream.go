package main

// Standard input as a media source (`--video -` or `--audio -`).
//
// Invariants:
//   - At most one source reads standard input, and then chat lines are not
//     read from it.
//   - A terminal is refused: a stream must be piped in.
//   - The descriptor is switched to non-blocking mode and wrapped in a new
//     *os.File, which the runtime poller serves: closing it (Media.Close)
//     ends a read blocked on a stalled producer, so join always exits.
//     os.Stdin itself is not used afterwards.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"github.com/videochat/videochat/capture"
)

// usesStdin reports whether a media source reads standard input.
func usesStdin(cfg capture.Config) bool {
	return cfg.Video == capture.SourceStdin || cfg.Audio == capture.SourceStdin
}

// stdinSource prepares standard input for a "-" source.
func stdinSource(cfg *capture.Config) error {
	if !usesStdin(*cfg) {
		return nil
	}
	if cfg.Video == capture.SourceStdin && cfg.Audio == capture.SourceStdin {
		return errors.New("--video - and --audio -: only one source can read standard input; give the other a socket (tcp://HOST:PORT or unix:PATH)")
	}
	if stdinIsTerminal() {
		return errors.New("a '-' source reads a stream piped into standard input, which is a terminal here: e.g. rpicam-vid -t 0 --inline -o - | videochat join --video - …")
	}
	cfg.Stdin = pollableStdin()
	return nil
}

// stdinIsTerminal reports whether standard input is a terminal (a
// character device under /dev/pts or /dev/tty*; /dev/null is not one).
func stdinIsTerminal() bool {
	st, err := os.Stdin.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	target, err := os.Readlink("/proc/self/fd/0")
	return err == nil && (strings.HasPrefix(target, "/dev/pts/") || strings.HasPrefix(target, "/dev/tty") || target == "/dev/console")
}

// pollableStdin returns standard input as a file whose Close interrupts a
// pending Read (for pipes and sockets; a regular file never blocks).
func pollableStdin() io.ReadCloser {
	fd := int(os.Stdin.Fd())
	if err := syscall.SetNonblock(fd, true); err != nil {
		return os.Stdin
	}
	return os.NewFile(uintptr(fd), "stdin")
}

// inputEnded leaves the room when a stream source has ended: exit 0 at the
// end of the stream (the producer finished), 1 if the stream was bad.
func inputEnded(media *capture.Media, leave func() error) error {
	lerr := leave()
	if err := media.Err(); err != nil {
		return withCode(exitError, err)
	}
	fmt.Fprintln(os.Stderr, "videochat: the input stream ended; leaving the room")
	return lerr
}

// openMedia opens the media sources. Waiting for a stream source to show
// its format ends with an interrupt, and with --duration.
func openMedia(ctx context.Context, f joinFlags) (*capture.Media, error) {
	if f.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.duration)
		defer cancel()
	}
	return capture.OpenContext(ctx, f.media)
}
