package xscreen

import (
	"errors"
	"testing"
	"time"

	"github.com/pion/mediadevices/pkg/prop"

	"github.com/videochat/videochat/internal/xvfbtest"
)

// TestServerDeathIsAnError: reads fail with ErrGone once the X server is
// killed, the process lives on and Close returns; after a restart on the
// same display, Open works again.
func TestServerDeathIsAnError(t *testing.T) {
	d := xvfbtest.Start(t, 160, 120)
	d.Setenv(t)
	if n := Screens(); n != 1 {
		t.Fatalf("Screens() = %d, want 1", n)
	}
	s := New(0)
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	p := s.Properties()
	if len(p) != 1 || p[0].Width != 160 || p[0].Height != 120 {
		t.Fatalf("properties %+v, want one 160x120 mode", p)
	}
	r, err := s.VideoRecord(prop.Media{Video: prop.Video{FrameRate: 50}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Read(); err != nil {
		t.Fatal(err)
	}
	d.Kill()
	for deadline := time.Now().Add(10 * time.Second); ; {
		_, _, err := r.Read()
		if errors.Is(err, ErrGone) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reads go on after the server's death (last err %v)", err)
		}
	}
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close hangs on a dead display")
	}
	if err := s.Open(); err == nil {
		t.Error("Open succeeded with the server dead")
		s.Close()
	}
	d.Restart()
	if err := s.Open(); err != nil {
		t.Fatalf("Open after restart: %v", err)
	}
	defer s.Close()
	if _, err := s.VideoRecord(prop.Media{}); err != nil {
		t.Fatal(err)
	}
}
