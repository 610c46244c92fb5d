package doctor

import (
	"fmt"
	"strings"
	"sync"

	"github.com/pion/logging"
)

// logCapture is a pion LoggerFactory that keeps the ICE agent's warnings
// and errors, so a failed path can say why (e.g. "error 401").
type logCapture struct {
	mu    sync.Mutex
	lines []string
}

var _ logging.LoggerFactory = (*logCapture)(nil)

// NewLogger returns a logger recording warnings and errors.
func (l *logCapture) NewLogger(string) logging.LeveledLogger {
	return captureLogger{l: l}
}

// first returns the first recorded warning about gathering, or "".
func (l *logCapture) first() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.lines {
		low := strings.ToLower(s)
		if strings.Contains(low, "context canceled") {
			continue // our own timeout, not the cause
		}
		for _, k := range []string{"turn", "relay", "stun", "allocate", "dial"} {
			if strings.Contains(low, k) {
				return s
			}
		}
	}
	return ""
}

func (l *logCapture) add(msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) < 32 {
		l.lines = append(l.lines, msg)
	}
}

// captureLogger drops trace, debug and info; it records the rest.
type captureLogger struct{ l *logCapture }

func (c captureLogger) Trace(string)          {}
func (c captureLogger) Tracef(string, ...any) {}
func (c captureLogger) Debug(string)          {}
func (c captureLogger) Debugf(string, ...any) {}
func (c captureLogger) Info(string)           {}
func (c captureLogger) Infof(string, ...any)  {}
func (c captureLogger) Warn(msg string)       { c.l.add(msg) }
func (c captureLogger) Warnf(f string, a ...any) {
	c.l.add(fmt.Sprintf(f, a...))
}
func (c captureLogger) Error(msg string) { c.l.add(msg) }
func (c captureLogger) Errorf(f string, a ...any) {
	c.l.add(fmt.Sprintf(f, a...))
}
