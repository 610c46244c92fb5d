package redisbackend

import (
	"testing"
	"time"
)

func TestConfigDefaults(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      Config
		wantErr bool
		check   func(Config) bool
	}{
		{"no url", Config{}, true, nil},
		{"bad url", Config{URL: "http://x"}, false, nil}, // checked by New
		{"defaults", Config{URL: "redis://127.0.0.1:1/0"}, false, func(c Config) bool {
			return c.PresenceTTL == DefaultPresenceTTL && c.OpTimeout == DefaultOpTimeout &&
				len(c.NodeID) == 16 && c.Logger != nil && c.heartbeat() == 5*time.Second
		}},
		{"kept", Config{URL: "redis://h/0", NodeID: "n", PresenceTTL: time.Second, OpTimeout: time.Second}, false,
			func(c Config) bool {
				return c.NodeID == "n" && c.PresenceTTL == time.Second && c.OpTimeout == time.Second
			}},
		{"ttl too short", Config{URL: "redis://h/0", PresenceTTL: time.Millisecond}, true, nil},
		{"negative timeout", Config{URL: "redis://h/0", OpTimeout: -1}, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.in.withDefaults()
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if tc.check != nil && !tc.check(c) {
				t.Fatalf("config %+v", c)
			}
		})
	}
	if _, err := (Config{URL: "http://x"}).redisOptions(); err == nil {
		t.Fatal("http URL accepted")
	}
}

func TestRosterDiff(t *testing.T) {
	was := map[string]string{"a": "A", "b": "B", "me": "M"}
	now := map[string]string{"b": "B", "c": "C", "me": "M", "d": "D"}
	var got []string
	for _, f := range rosterDiff(was, now, "me") {
		got = append(got, string(f))
	}
	want := []string{
		`{"type":"peer-joined","peer":{"id":"c","name":"C"}}`,
		`{"type":"peer-joined","peer":{"id":"d","name":"D"}}`,
		`{"type":"peer-left","peer":{"id":"a","name":"A"}}`,
	}
	if len(got) != len(want) {
		t.Fatalf("got %q", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("frame %d: %s, want %s", i, got[i], want[i])
		}
	}
}
