package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/videochat/videochat/peer"
	"github.com/videochat/videochat/playback"
	"github.com/videochat/videochat/signal/proto"
	"github.com/videochat/videochat/view"
)

// chatPrinter writes chat lines and the live status line to one terminal
// without interleaving them.
type chatPrinter struct {
	mu     sync.Mutex
	w      io.Writer
	tty    bool
	status string
	// width is the terminal's width in columns now (0: unknown); the
	// status line is cut to it so that it never wraps onto a second row.
	width func() int
}

func newChatPrinter(f *os.File) *chatPrinter {
	return &chatPrinter{w: f, tty: isTerminal(f), width: func() int {
		ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
		if err != nil {
			return 0
		}
		return int(ws.Col)
	}}
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// chat prints an incoming chat line as "[name] text".
func (c *chatPrinter) chat(from proto.PeerInfo, text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tty {
		fmt.Fprint(c.w, "\r\033[K")
	}
	fmt.Fprintf(c.w, "[%s] %s\n", from.Name, text)
	if c.tty && c.status != "" {
		fmt.Fprint(c.w, c.status)
	}
}

// setStatus redraws the status line (on a terminal only).
func (c *chatPrinter) setStatus(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.tty {
		return
	}
	if c.width != nil {
		s = fitColumns(s, c.width())
	}
	c.status = s
	fmt.Fprint(c.w, "\r\033[K"+s)
}

// fitColumns cuts s to at most cols runes, the last one an ellipsis when
// something was cut (cols <= 0: unknown width, s is kept). Status lines are
// plain text: one rune is one column, but for the level note's "♪" and the
// quality glyphs, which are narrow too.
func fitColumns(s string, cols int) string {
	if cols <= 0 || utf8.RuneCountInString(s) <= cols-1 {
		return s
	}
	r := []rune(s)
	return string(r[:cols-2]) + "…"
}

// reporter writes the per-second stats: JSON lines and the status line.
type reporter struct {
	out  *chatPrinter
	json *json.Encoder
	file *os.File
	last *peer.Snapshot
	// audio, when set, adds the remote peers' levels to the status line
	// and the playback counters to the JSON (join_play.go).
	audio *playback.Player
	view  func() *view.Stats // nil: no video view
}

// reportLine is one line of --stats-json: the peer's snapshot, the
// playback counters when remote audio is played, and the view's counters
// when remote video is shown.
type reportLine struct {
	peer.Snapshot
	Playback []playback.StreamStats `json:"playback,omitempty"`
	// PlayedSamples counts what the output took (at 48 kHz): against Time
	// it shows whether the device keeps real time.
	PlayedSamples uint64      `json:"played_samples"`
	View          *view.Stats `json:"view,omitempty"`
}

func newReporter(path string, out *chatPrinter, viewStats func() *view.Stats) (*reporter, error) {
	r := &reporter{out: out, view: viewStats}
	switch path {
	case "":
	case "-":
		r.json = json.NewEncoder(os.Stdout)
		out.tty = false // stdout carries JSON: keep it clean
	default:
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("--stats-json: %w", err)
		}
		r.file = f
		r.json = json.NewEncoder(f)
	}
	return r, nil
}

func (r *reporter) report(s peer.Snapshot) {
	if r.json != nil {
		line := reportLine{Snapshot: s}
		if r.audio != nil {
			line.Playback, line.PlayedSamples = r.audio.Stats(), r.audio.Pulled()
		}
		if r.view != nil {
			line.View = r.view()
		}
		_ = r.json.Encode(line)
	}
	r.out.setStatus(statusLine(s, r.last) + audioStatus(r.audio))
	r.last = &s
}

func (r *reporter) close() {
	if r.out.tty {
		fmt.Fprintln(r.out.w)
	}
	if r.file != nil {
		_ = r.file.Close()
	}
}

// statusLine summarises a snapshot in one line; prev gives the rates.
func statusLine(s peer.Snapshot, prev *peer.Snapshot) string {
	var in, out uint64
	var parts []string
	for _, p := range s.Peers {
		in += p.Video.BytesReceived
		out += p.BytesSent
		parts = append(parts, fmt.Sprintf("%s %s %.0ffps %.0fms tx %dkbps loss %.0f%% %s", p.Name, p.State, p.Video.FPS, p.RTTMillis, p.TargetBitrate/1000, p.Loss*100, peerFlags(p)))
	}
	if prev != nil {
		var pin, pout uint64
		for _, p := range prev.Peers {
			pin += p.Video.BytesReceived
			pout += p.BytesSent
		}
		in, out = sub(in, pin), sub(out, pout)
	} else {
		in, out = 0, 0
	}
	return fmt.Sprintf("peers %d | in %s out %s | %s", len(s.Peers), kbps(in), kbps(out), strings.Join(parts, " | "))
}

func sub(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}

func kbps(bytesPerSecond uint64) string {
	return fmt.Sprintf("%dkbps", bytesPerSecond*8/1000)
}
