package peer_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/videochat/videochat/internal/logtest"
	"github.com/videochat/videochat/internal/looptest"
	"github.com/videochat/videochat/internal/sigtest"
	"github.com/videochat/videochat/peer"
	"github.com/videochat/videochat/signal"
	"github.com/videochat/videochat/signal/proto"
)

// waitTimeout bounds every wait for a condition. It is generous because the
// machine is shared; nothing waits for it on the happy path.
const waitTimeout = 30 * time.Second

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startServer runs the real signalling server on loopback (sigtest) and
// returns its base URL. Cleanup shuts it down.
func startServer(t *testing.T) string {
	t.Helper()
	return startServerWith(t, signal.Config{})
}

// startServerWith is startServer with a custom configuration.
func startServerWith(t *testing.T, cfg signal.Config) string {
	t.Helper()
	return startSignal(t, cfg, "").URL
}

// startSignal runs the real signalling server with cfg on addr ("" picks a
// free port; a stopped server's Addr restarts it in place).
func startSignal(t *testing.T, cfg signal.Config, addr string) *sigtest.Server {
	t.Helper()
	return sigtest.Start(t, sigtest.Config{Signal: cfg, Addr: addr})
}

// atOnce runs each fn in its own goroutine, releases them all at the same
// moment (to provoke glare) and waits for them. Their errors fail the test.
func atOnce(t *testing.T, fns ...func() error) {
	t.Helper()
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, fn := range fns {
		wg.Go(func() {
			<-start
			if err := fn(); err != nil {
				t.Error(err)
			}
		})
	}
	close(start)
	wg.Wait()
}

// runner is one native peer running in the background.
type runner struct {
	*peer.Peer
	name    string
	wantErr bool
	cancel  context.CancelFunc
	done    chan struct{}
	err     error
	started time.Time

	mu     sync.Mutex
	events []peer.Event
	chats  []string
}

type peerOpts struct {
	tracks          []webrtc.TrackLocal
	api             *webrtc.API
	recordDir       string
	iceRestartAfter time.Duration
	relayOnly       bool
	reconnectFor    time.Duration
	token           string
	onTrack         func(peer.RemoteTrack) peer.TrackSink
	files           peer.FileConfig
	// wantErr: Run's error is checked by the test, not by cleanup.
	wantErr bool
}

// startPeer runs a native peer in room. Cleanup stops it and fails the
// test if Run returned an error.
func startPeer(t *testing.T, server, room, name string, o peerOpts) *runner {
	t.Helper()
	if o.api == nil {
		o.api = looptest.API(t, nil)
	}
	r := &runner{name: name, done: make(chan struct{}), wantErr: o.wantErr}
	p, err := peer.New(peer.Config{
		Server: server, Room: room, Name: name,
		API: o.api, Tracks: o.tracks, RecordDir: o.recordDir,
		ICERestartAfter: o.iceRestartAfter,
		RelayOnly:       o.relayOnly,
		ReconnectFor:    o.reconnectFor,
		Token:           o.token,
		OnTrack:         o.onTrack,
		Files:           o.files,
		Logger:          logtest.New(t).With("side", name),
		OnChat: func(from proto.PeerInfo, text string) {
			r.mu.Lock()
			r.chats = append(r.chats, "["+from.Name+"] "+text)
			r.mu.Unlock()
		},
		OnEvent: func(e peer.Event) {
			r.mu.Lock()
			r.events = append(r.events, e)
			r.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatalf("peer.New(%s): %v", name, err)
	}
	r.Peer = p
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.started = time.Now()
	go func() {
		defer close(r.done)
		r.err = p.Run(ctx)
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the peer and waits for Run to return.
func (r *runner) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(waitTimeout):
		t.Fatalf("%s: Run did not return", r.name)
	}
	if r.err != nil && !r.wantErr {
		t.Errorf("%s: Run: %v", r.name, r.err)
	}
}

// running reports whether Run has not returned yet.
func (r *runner) running() bool {
	select {
	case <-r.done:
		return false
	default:
		return true
	}
}

func (r *runner) chatLines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.chats...)
}

func (r *runner) eventsOf(kind peer.EventKind) []peer.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []peer.Event
	for _, e := range r.events {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// stateSince returns the first state event about id at or after since
// whose state is one of states.
func (r *runner) stateSince(id string, since time.Time, states ...string) (peer.Event, bool) {
	for _, e := range r.eventsOf(peer.EventState) {
		if e.Peer.ID != id || e.Time.Before(since) {
			continue
		}
		for _, s := range states {
			if e.State == s {
				return e, true
			}
		}
	}
	return peer.Event{}, false
}

// waitState waits for a state event of r about id with state, and returns
// the first.
func waitState(t *testing.T, r *runner, id, state string) peer.Event {
	t.Helper()
	var ev peer.Event
	waitFor(t, fmt.Sprintf("%s: PeerConnection to %s %s", r.name, id, state), func() error {
		e, ok := r.stateSince(id, time.Time{}, state)
		if !ok {
			return fmt.Errorf("no %s state event", state)
		}
		ev = e
		return nil
	})
	return ev
}

// waitFor polls cond until it returns nil or waitTimeout passes.
func waitFor(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitWelcome waits until r has its own id.
func waitWelcome(t *testing.T, r *runner) string {
	t.Helper()
	waitFor(t, r.name+" welcome", func() error {
		if r.Self().ID == "" {
			return errors.New("no id yet")
		}
		return nil
	})
	return r.Self().ID
}

// peerStats returns r's stats for the remote peer id.
func peerStats(r *runner, id string) (peer.PeerStats, bool) {
	for _, ps := range r.Stats().Peers {
		if ps.ID == id {
			return ps, true
		}
	}
	return peer.PeerStats{}, false
}

// newSynthSource starts synthetic VP8 and Opus tracks (looptest.Synth)
// with 3000-byte frames.
func newSynthSource(t *testing.T, id string) *looptest.Synth { return looptest.NewSynth(t, id, 3000) }

// needTool skips the test when a command-line tool is missing.
func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s not installed", name)
	}
}
