package peer

import (
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

func TestICERestartAfterDefault(t *testing.T) {
	for _, c := range []struct {
		set, want time.Duration
	}{
		{0, 5 * time.Second},
		{time.Second, time.Second},
		{-1, -1},
	} {
		p, err := New(Config{Server: "http://127.0.0.1:1", Room: "r", Name: "n", API: webrtc.NewAPI(), ICERestartAfter: c.set})
		if err != nil {
			t.Fatal(err)
		}
		if got := p.cfg.ICERestartAfter; got != c.want {
			t.Errorf("ICERestartAfter %v → %v, want %v", c.set, got, c.want)
		}
	}
}

func TestRestartBackoff(t *testing.T) {
	base := 5 * time.Second
	want := []time.Duration{5, 10, 20, 40, 60, 60}
	for i, w := range want {
		if got := restartBackoff(base, i+1); got != w*time.Second {
			t.Errorf("attempt %d: %v, want %v", i+1, got, w*time.Second)
		}
	}
	if got := restartBackoff(2*time.Minute, 3); got != 2*time.Minute {
		t.Errorf("base above the cap: %v", got)
	}
}

func TestICEUfrag(t *testing.T) {
	sdp := "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=ice-ufrag:AbCd\r\na=ice-pwd:x\r\n"
	if got := iceUfrag(sdp); got != "AbCd" {
		t.Errorf("iceUfrag = %q", got)
	}
	if got := iceUfrag("v=0\r\n"); got != "" {
		t.Errorf("iceUfrag without ufrag = %q", got)
	}
}
