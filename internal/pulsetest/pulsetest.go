// Package pulsetest runs a throw-away, user-mode PulseAudio server for
// tests: the real sound server that desktop microphones and speakers go
// through, with null sinks standing in for the hardware. A sink NAME plays
// into nothing and its source NAME.monitor records what was played, so a
// test feeds a "microphone" by playing into a sink (paplay) and checks a
// "speaker" by recording its monitor (parecord).
//
// Each Server has its own runtime directory and socket; nothing touches a
// server the machine may already run. Clients find it through the
// environment of Env (child processes) or Setenv (this process, before any
// audio library is initialised). The daemon is killed when the test ends.
package pulsetest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startTimeout bounds the wait for the daemon to answer. Generous: the test
// machines are shared.
const startTimeout = 20 * time.Second

const missing = "\n*** PULSEAUDIO NOT FOUND: the tests that need a sound server did NOT run. ***\n" +
	"*** Install it: scripts/deps.sh test (pulseaudio pulseaudio-utils sox) ***"

// Sink describes one null sink: a virtual speaker whose monitor is a
// virtual microphone.
type Sink struct {
	Name     string
	Rate     int    // Hz; 0 means 48000
	Channels int    // 0 means 2
	Format   string // sample format, e.g. "float32le"; "" means s16le
}

// Server is one PulseAudio daemon owned by a test.
type Server struct {
	tb     testing.TB
	dir    string
	socket string
	cmd    *exec.Cmd
	exited chan struct{}
	log    bytes.Buffer
}

// Require ends the test when pulseaudio, pactl, paplay or parecord is
// missing: t.Fatal when the environment variable CI is "true", otherwise
// t.Skip with a loud message.
func Require(tb testing.TB) {
	tb.Helper()
	for _, tool := range []string{"pulseaudio", "pactl", "paplay", "parecord", "sox"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				tb.Fatal(missing)
			}
			tb.Skip(missing)
		}
	}
}

// Start runs a daemon with the given null sinks (the first is the default
// sink, and its monitor the default source unless SetDefaultSource says
// otherwise) and waits until it answers.
func Start(tb testing.TB, sinks ...Sink) *Server {
	tb.Helper()
	Require(tb)
	// Unix socket paths are limited to 108 bytes; TempDir can be longer.
	dir, err := os.MkdirTemp("", "pulse")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	s := &Server{tb: tb, dir: dir, socket: filepath.Join(dir, "native"), exited: make(chan struct{})}
	args := []string{
		"-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no",
		"--disable-shm", "--log-target=stderr",
		"--load=module-native-protocol-unix auth-anonymous=1 socket=" + s.socket,
	}
	for _, k := range sinks {
		if k.Rate == 0 {
			k.Rate = 48000
		}
		if k.Channels == 0 {
			k.Channels = 2
		}
		mod := fmt.Sprintf("--load=module-null-sink sink_name=%s rate=%d channels=%d", k.Name, k.Rate, k.Channels)
		if k.Format != "" {
			mod += " format=" + k.Format
		}
		args = append(args, mod)
	}
	s.cmd = exec.Command("pulseaudio", args...)
	s.cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+dir, "HOME="+dir, "PULSE_STATE_PATH="+dir, "PULSE_RUNTIME_PATH="+dir)
	s.cmd.Stdout = &s.log
	s.cmd.Stderr = &s.log
	if err := s.cmd.Start(); err != nil {
		tb.Fatalf("pulsetest: start pulseaudio: %v", err)
	}
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	tb.Cleanup(s.stop)
	deadline := time.Now().Add(startTimeout)
	for {
		if err := s.Cmd("pactl", "info").Run(); err == nil {
			break
		}
		select {
		case <-s.exited:
			tb.Fatalf("pulsetest: pulseaudio exited:\n%s", s.log.String())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("pulsetest: pulseaudio did not answer within %v:\n%s", startTimeout, s.log.String())
		}
		time.Sleep(20 * time.Millisecond) // polling a process we cannot get an event from
	}
	return s
}

// Env is what a client process needs to reach this server (and only it).
func (s *Server) Env() []string {
	return []string{"PULSE_SERVER=unix:" + s.socket, "XDG_RUNTIME_DIR=" + s.dir, "PULSE_RUNTIME_PATH=" + s.dir}
}

// Setenv points this process's audio libraries at the server until the test
// ends. It must run before they are initialised (t.Setenv: not in parallel
// tests).
func (s *Server) Setenv(t testing.TB) {
	t.Helper()
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// Cmd is exec.Command with the server's environment.
func (s *Server) Cmd(name string, args ...string) *exec.Cmd {
	c := exec.Command(name, args...)
	c.Env = append(os.Environ(), s.Env()...)
	return c
}

// Pactl runs pactl with args and returns its output, failing the test on
// error.
func (s *Server) Pactl(args ...string) string {
	s.tb.Helper()
	out, err := s.Cmd("pactl", args...).CombinedOutput()
	if err != nil {
		s.tb.Fatalf("pactl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// SetDefaultSource makes name (e.g. "mic.monitor") the default source.
func (s *Server) SetDefaultSource(name string) { s.Pactl("set-default-source", name) }

// AddMicrophone adds a source named name that records what is played into
// sink (module-remap-source of its monitor): unlike a monitor, it looks
// like a real microphone to clients. It returns the module index, for
// pactl unload-module (unplugging it).
func (s *Server) AddMicrophone(name, sink string) string {
	return strings.TrimSpace(s.Pactl("load-module", "module-remap-source", "master="+sink+".monitor", "source_name="+name))
}

// Play plays a 440 Hz-style sox synth (args after "synth", e.g. "600 sine
// 440") into sink at rate Hz with ch channels, until the test ends.
func (s *Server) Play(sink string, rate, ch int, synth ...string) {
	s.tb.Helper()
	args := append([]string{"-n", "-r", fmt.Sprint(rate), "-c", fmt.Sprint(ch), "-b", "16", "-t", "wav", "-", "synth"}, synth...)
	sox := exec.Command("sox", args...)
	play := s.Cmd("paplay", "-d", sink)
	pipe, err := sox.StdoutPipe()
	if err != nil {
		s.tb.Fatal(err)
	}
	play.Stdin = pipe
	if err := sox.Start(); err != nil {
		s.tb.Fatalf("pulsetest: sox: %v (install sox)", err)
	}
	if err := play.Start(); err != nil {
		_ = sox.Process.Kill()
		_ = sox.Wait()
		s.tb.Fatalf("pulsetest: paplay: %v", err)
	}
	s.tb.Cleanup(func() {
		_ = play.Process.Kill()
		_ = sox.Process.Kill()
		_ = play.Wait()
		_ = sox.Wait()
	})
	// Return once the stream plays: paplay's sink input exists.
	deadline := time.Now().Add(startTimeout)
	for !strings.Contains(s.Pactl("list", "short", "sink-inputs"), "paplay") && !strings.Contains(s.Pactl("list", "short", "sink-inputs"), "protocol-native") {
		if time.Now().After(deadline) {
			s.tb.Fatalf("pulsetest: paplay did not start playing within %v", startTimeout)
		}
		time.Sleep(20 * time.Millisecond) // polling: the server sends no event we could wait on here
	}
}

// SetDefaultSink makes name the default sink.
func (s *Server) SetDefaultSink(name string) { s.Pactl("set-default-sink", name) }

// Log is what the daemon has printed so far.
func (s *Server) Log() string { return s.log.String() }

func (s *Server) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// maxOutputsPerSource is PulseAudio's limit of recording streams on one
// source (PA_MAX_OUTPUTS_PER_SOURCE).
const maxOutputsPerSource = 256

// Refuse makes the server refuse every new recording stream of source
// (`parecord` says "Stream error: Too large"): a real refusal by the sound
// server, standing in for a device that will not open. It fills the
// source with the most recording streams PulseAudio allows (remapped
// sources of it, idle, so they cost nothing) and returns allow, which
// takes one away so that the next stream is accepted again.
func (s *Server) Refuse(source string) (allow func()) {
	s.tb.Helper()
	var mods []string
	for i := range maxOutputsPerSource {
		mods = append(mods, strings.TrimSpace(s.Pactl("load-module", "module-remap-source",
			"master="+source, fmt.Sprintf("source_name=%s_fill%d", source, i))))
	}
	return func() {
		s.tb.Helper()
		s.Pactl("unload-module", mods[0])
	}
}
