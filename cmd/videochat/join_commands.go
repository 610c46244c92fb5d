package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"github.com/videochat/videochat/peer"
)

// Typed commands of `videochat join`: a line read from standard input that
// starts with "/" is a command, any other line is chat. Command output and
// file progress go to the same printer as chat lines.

const commandHelp = `commands:
  /mute, /unmute        stop or restart sending your microphone
  /video off, /video on stop or restart sending your camera
  /send PATH            send a file to everyone
  /sendto NAME PATH     send a file to one peer
  /files                list file transfers
  /verify               print the safety code of each connection
  /quit                 leave the call
  /help                 this list
other lines are sent as chat`

// fileFlags are the file-sharing flags of `videochat join`.
type fileFlags struct {
	downloads string
	maxSize   int64
}

func (f *fileFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.downloads, "downloads", ".", "directory for received files (never overwritten; names sanitised); empty: refuse files")
	fl.Int64Var(&f.maxSize, "max-file-size", peer.DefaultMaxFileSize, "largest file accepted, bytes (announced to the others)")
}

// config is the peer's file configuration, reporting to out.
func (f *fileFlags) config(out *chatPrinter) peer.FileConfig {
	return peer.FileConfig{Dir: f.downloads, MaxSize: f.maxSize, OnEvent: out.file}
}

// readCommands reads lines from r: commands run, other lines are chat. It
// ends at EOF; a read blocked on a terminal ends with the process. quit
// ends the call.
func readCommands(ctx context.Context, r io.Reader, p *peer.Peer, out *chatPrinter, quit func()) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if ctx.Err() != nil {
			return
		}
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
		case strings.HasPrefix(line, "/"):
			if runCommand(p, out, line) {
				quit()
				return
			}
		default:
			if err := p.SendChat(line); err != nil && !errors.Is(err, peer.ErrNoPeers) {
				out.line("chat not sent: " + err.Error())
			}
		}
	}
}

// runCommand runs one command line; it reports whether to quit.
func runCommand(p *peer.Peer, out *chatPrinter, line string) (quit bool) {
	cmd, arg, _ := strings.Cut(line, " ")
	arg = strings.TrimSpace(arg)
	switch cmd {
	case "/quit", "/exit":
		return true
	case "/help":
		out.line(commandHelp)
	case "/mute":
		p.SetMic(false)
		out.line("microphone off")
	case "/unmute":
		p.SetMic(true)
		out.line("microphone on")
	case "/video":
		switch arg {
		case "off":
			p.SetCamera(false)
			out.line("camera off")
		case "on":
			p.SetCamera(true)
			out.line("camera on")
		default:
			out.line("usage: /video off|on")
		}
	case "/send":
		if arg == "" {
			out.line("usage: /send PATH")
			break
		}
		sendFile(p, out, arg, "")
	case "/sendto":
		name, path, ok := strings.Cut(arg, " ")
		if !ok || strings.TrimSpace(path) == "" {
			out.line("usage: /sendto NAME PATH")
			break
		}
		id := ""
		for _, s := range p.Stats().Peers {
			if s.Name == name || s.ID == name {
				id = s.ID
			}
		}
		if id == "" {
			out.line(fmt.Sprintf("no peer named %q", name))
			break
		}
		sendFile(p, out, strings.TrimSpace(path), id)
	case "/files":
		for _, f := range p.Files() {
			out.file(f)
		}
	case "/verify":
		out.line(verifyText(p.Stats()))
	default:
		out.line(fmt.Sprintf("unknown command %s (/help lists them)", cmd))
	}
	return false
}

func sendFile(p *peer.Peer, out *chatPrinter, path, id string) {
	if _, err := p.SendFile(path, id); err != nil {
		out.line(fmt.Sprintf("cannot send %s: %v", path, err))
	}
}

// verifyText lists the safety code of every connection, and how to use it.
func verifyText(s peer.Snapshot) string {
	if len(s.Peers) == 0 {
		return "no connections to verify"
	}
	var b strings.Builder
	b.WriteString("safety codes (read yours aloud; the other person must see the same on your tile):")
	for _, ps := range s.Peers {
		code := ps.SafetyCode
		if code == "" {
			code = "(not connected yet)"
		}
		fmt.Fprintf(&b, "\n  %s: %s", ps.Name, code)
	}
	return b.String()
}

// line prints a line of command output.
func (c *chatPrinter) line(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tty {
		fmt.Fprint(c.w, "\r\033[K")
	}
	fmt.Fprintln(c.w, s)
	if c.tty && c.status != "" {
		fmt.Fprint(c.w, c.status)
	}
}

// file prints a file transfer event as one line:
// "[file] NAME (SIZE) to|from PEER: STATE ...".
func (c *chatPrinter) file(e peer.FileEvent) {
	dir := "from"
	if e.Out {
		dir = "to"
	}
	s := fmt.Sprintf("[file] %s (%d bytes) %s %s: %s", e.Name, e.Size, dir, e.Peer.Name, e.State)
	switch e.State {
	case "sending", "receiving":
		if e.Size > 0 {
			s += fmt.Sprintf(" %d%%", e.Bytes*100/e.Size)
		}
	case "done":
		if e.Path != "" {
			s += " → " + e.Path
		}
		s += " sha256 " + e.SHA256
	case "failed", "refused":
		s += fmt.Sprintf(" (%s) %s", e.Code, e.Detail)
	}
	c.line(s)
}

// peerFlags summarises a peer's state for the status line, e.g.
// "mic off cam on talking good".
func peerFlags(p peer.PeerStats) string {
	s := fmt.Sprintf("mic %s cam %s", orDash(p.Mic), orDash(p.Camera))
	if p.Speaking {
		s += " talking"
	}
	return s + " " + orDash(p.Quality)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// stateLines prints "[state] NAME: mic on, camera off" when a peer
// announces its state, then passes every event on to next.
func stateLines(out *chatPrinter, next func(peer.Event)) func(peer.Event) {
	return func(e peer.Event) {
		if e.Kind == peer.EventPeerState {
			out.line(fmt.Sprintf("[state] %s: %s", e.Peer.Name, e.State))
		}
		next(e)
	}
}
