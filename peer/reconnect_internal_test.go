package peer

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/videochat/videochat/signal/proto"
)

func TestReconnectDelay(t *testing.T) {
	ms := time.Millisecond
	want := []time.Duration{250 * ms, 500 * ms, time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for n, w := range want {
		if got := reconnectDelay(n, 0); got != w {
			t.Errorf("attempt %d: %v, want %v", n, got, w)
		}
		lo, hi := reconnectDelay(n, -1), reconnectDelay(n, 1)
		if lo != time.Duration(float64(w)*0.7) || hi != time.Duration(float64(w)*1.3) {
			t.Errorf("attempt %d: jitter range [%v, %v], want ±30%% of %v", n, lo, hi, w)
		}
	}
	if got := reconnectDelay(1000, 0); got != reconnectMax {
		t.Errorf("attempt 1000: %v", got)
	}
}

func TestReconnectForDefault(t *testing.T) {
	for _, c := range []struct{ set, want time.Duration }{
		{0, 5 * time.Minute}, {time.Second, time.Second}, {-1, -1},
	} {
		p, err := New(Config{Server: "http://127.0.0.1:1", Room: "r", Name: "n", API: webrtc.NewAPI(), ReconnectFor: c.set})
		if err != nil {
			t.Fatal(err)
		}
		if got := p.cfg.ReconnectFor; got != c.want {
			t.Errorf("ReconnectFor %v → %v, want %v", c.set, got, c.want)
		}
	}
}

func TestRetryable(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{errors.New("dial tcp: connection refused"), true},
		{&proto.Error{Code: proto.CodeUnavailable}, true},
		{&proto.Error{Code: proto.CodeRateLimited}, true},
		{&proto.Error{Code: proto.CodeRoomFull}, true},
		{&proto.Error{Code: proto.CodeUnauthorized}, false},
		{&proto.Error{Code: proto.CodeReplaced}, false},
		{&proto.Error{Code: proto.CodeBadName}, false},
		{&proto.Error{Code: proto.CodeUnsupportedVersion}, false},
	} {
		if got := retryable(c.err); got != c.want {
			t.Errorf("retryable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestSDPFingerprint(t *testing.T) {
	sdp := "v=0\r\na=fingerprint:sha-256 AB:CD\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=fingerprint:sha-256 EF:01\r\n"
	if got := sdpFingerprint(sdp); got != "sha-256 AB:CD" {
		t.Errorf("sdpFingerprint = %q", got)
	}
	if got := sdpFingerprint("v=0\r\n"); got != "" {
		t.Errorf("no fingerprint: %q", got)
	}
}

func TestCreateUnique(t *testing.T) {
	base := filepath.Join(t.TempDir(), "room-ann-a1")
	var names []string
	for range 3 {
		f, err := createUnique(base, ".webm")
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, filepath.Base(f.Name()))
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"room-ann-a1.webm", "room-ann-a1-2.webm", "room-ann-a1-3.webm"}
	for i := range want {
		if names[i] != want[i] {
			t.Errorf("file %d: %s, want %s", i, names[i], want[i])
		}
	}
	if _, err := createUnique(filepath.Join(t.TempDir(), "missing-dir", "x"), ".webm"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing directory: %v", err)
	}
}
