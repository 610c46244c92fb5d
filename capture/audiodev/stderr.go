package audiodev

import (
	"bufio"
	"log/slog"
	"os"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// stderrMu serialises redirections of file descriptor 2, which is one per
// process: it is the lock of that process-wide resource, not state of this
// package.
var stderrMu sync.Mutex

// Quietly runs fn with file descriptor 2 pointed at a pipe whose lines go
// to log at debug level. The C audio libraries (ALSA, JACK, PulseAudio)
// print their diagnostics straight to fd 2 while they initialise and
// enumerate; this keeps that chatter out of the terminal. It is used only
// around those short calls: anything else the process writes to stderr
// meanwhile is logged at debug level too.
func Quietly(log *slog.Logger, fn func()) {
	stderrMu.Lock()
	defer stderrMu.Unlock()
	r, w, err := os.Pipe()
	if err != nil {
		fn()
		return
	}
	saved, err := unix.Dup(2)
	if err != nil {
		r.Close()
		w.Close()
		fn()
		return
	}
	if err := unix.Dup2(int(w.Fd()), 2); err != nil {
		unix.Close(saved)
		r.Close()
		w.Close()
		fn()
		return
	}
	// The lines are logged only once fd 2 is restored: log may write to
	// stderr itself, and logging from the reader would feed the pipe its
	// own output.
	var lines []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if line := strings.TrimSpace(sc.Text()); line != "" && len(lines) < 1000 {
				lines = append(lines, line)
			}
		}
	}()
	defer func() {
		_ = unix.Dup2(saved, 2) // drops the pipe's copy held by fd 2
		unix.Close(saved)
		w.Close() // the reader sees EOF once the last copy is gone
		<-done
		r.Close()
		for _, line := range lines {
			log.Debug("audio library", "says", line)
		}
	}()
	fn()
}
