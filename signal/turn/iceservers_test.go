package turn_test

import (
	"strings"
	"testing"
	"time"

	"github.com/videochat/videochat/signal/turn"
)

func TestParseICEServer(t *testing.T) {
	tests := []struct {
		in         string
		url        string
		user, cred string
		ok         bool
	}{
		{"stun:stun.l.google.com:19302", "stun:stun.l.google.com:19302", "", "", true},
		{"turn:turn.example.org:3478?transport=tcp", "turn:turn.example.org:3478?transport=tcp", "", "", true},
		{"turns:turn.example.org:443?transport=tcp", "turns:turn.example.org:443?transport=tcp", "", "", true},
		{"turn:bob:p%40ss@turn.example.org", "turn:turn.example.org", "bob", "p@ss", true},
		{"TURN:127.0.0.1:3478", "turn:127.0.0.1:3478", "", "", true},
		{"http://x", "", "", "", false},
		{"stun:", "", "", "", false},
		{"stun:u:p@host", "", "", "", false},
		{"stun:host?transport=udp", "", "", "", false},
		{"turn:host?transport=sctp", "", "", "", false},
		{"turn:host?foo=1", "", "", "", false},
		{"turn:onlyuser@host", "", "", "", false},
		{"turn:host/path", "", "", "", false},
	}
	for _, tc := range tests {
		spec, err := turn.ParseICEServer(tc.in)
		if tc.ok != (err == nil) {
			t.Errorf("ParseICEServer(%q) error %v, want ok=%v", tc.in, err, tc.ok)
			continue
		}
		if tc.ok && (spec.URL != tc.url || spec.Username != tc.user || spec.Credential != tc.cred) {
			t.Errorf("ParseICEServer(%q) = %+v", tc.in, spec)
		}
	}
	if _, err := turn.ParseICEServer("turn:bob:hunter2@host"); err != nil {
		t.Fatal(err)
	}
	if _, err := turn.ParseICEServer("turn:bob:hunter2@host?transport=x"); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %v leaks or misses the password", err)
	}
}

func TestICEServers(t *testing.T) {
	secret := []byte("k")
	f, err := turn.ICEServers([]string{
		"stun:stun.example.org",
		"turn:turn.example.org?transport=udp",
		"turn:turn.example.org?transport=tcp",
		"turn:u:p@other.example.org",
	}, secret, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	got := f("peer1")
	if len(got) != 3 {
		t.Fatalf("got %d servers: %+v", len(got), got)
	}
	if got[0].Username != "" || got[0].URLs[0] != "stun:stun.example.org" {
		t.Errorf("stun entry %+v", got[0])
	}
	exp, id, err := turn.ParseUsername(got[1].Username)
	if err != nil || id != "peer1" || time.Until(exp) < 59*time.Minute || time.Until(exp) > time.Hour+time.Second {
		t.Errorf("REST username %q: %v %q %v", got[1].Username, exp, id, err)
	}
	if got[1].Credential != turn.Password(secret, got[1].Username) || len(got[1].URLs) != 2 {
		t.Errorf("REST entry %+v", got[1])
	}
	if got[2].Username != "u" || got[2].Credential != "p" || got[2].URLs[0] != "turn:other.example.org" {
		t.Errorf("static entry %+v", got[2])
	}
	if _, err := turn.ICEServers([]string{"turn:host"}, nil, time.Hour); err == nil {
		t.Error("TURN URL without credentials or secret accepted")
	}
	if _, err := turn.ICEServers([]string{"bogus"}, secret, time.Hour); err == nil {
		t.Error("bogus URL accepted")
	}
}

func TestServerICEServers(t *testing.T) {
	s := startTURN(t, true)
	got := s.ICEServers("p1")
	udp, tcp := s.Addrs()
	if len(got) != 1 || len(got[0].URLs) != 2 ||
		got[0].URLs[0] != "turn:"+udp.String()+"?transport=udp" || got[0].URLs[1] != "turn:"+tcp.String()+"?transport=tcp" {
		t.Fatalf("ICEServers = %+v", got)
	}
	if got[0].Credential != turn.Password(testSecret, got[0].Username) {
		t.Errorf("credential does not match the secret")
	}
}
