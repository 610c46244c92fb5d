package turn_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/videochat/videochat/signal/turn"
)

func TestCredentials(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	user, pass := turn.Credentials([]byte("s3cret"), "abcd", time.Hour, now)
	if user != "1700003600:abcd" {
		t.Errorf("username %q", user)
	}
	mac := hmac.New(sha1.New, []byte("s3cret"))
	mac.Write([]byte(user))
	if want := base64.StdEncoding.EncodeToString(mac.Sum(nil)); pass != want {
		t.Errorf("password %q, want %q", pass, want)
	}
	exp, id, err := turn.ParseUsername(user)
	if err != nil || id != "abcd" || !exp.Equal(now.Add(time.Hour)) {
		t.Errorf("ParseUsername(%q) = %v, %q, %v", user, exp, id, err)
	}
}

func TestParseUsername(t *testing.T) {
	tests := []struct {
		in     string
		expiry int64
		id     string
		ok     bool
	}{
		{"1700000000:0123456789abcdef", 1700000000, "0123456789abcdef", true},
		{"1:a", 1, "a", true},
		{"9223372036854775807:a.b_c~d-E", 9223372036854775807, "a.b_c~d-E", true},
		{"1700000000:" + strings.Repeat("x", turn.MaxPeerIDLen), 1700000000, strings.Repeat("x", turn.MaxPeerIDLen), true},
		{"", 0, "", false},
		{"alice", 0, "", false},
		{"1700000000", 0, "", false},
		{"1700000000:", 0, "", false},
		{":alice", 0, "", false},
		{"0:alice", 0, "", false},
		{"01700000000:alice", 0, "", false},
		{"+1700000000:alice", 0, "", false},
		{"-1:alice", 0, "", false},
		{" 1700000000:alice", 0, "", false},
		{"17e8:alice", 0, "", false},
		{"9223372036854775808:alice", 0, "", false},
		{"99999999999999999999:alice", 0, "", false},
		{"1700000000:a:b", 0, "", false},
		{"1700000000:al ice", 0, "", false},
		{"1700000000:ålice", 0, "", false},
		{"1700000000:a\x00", 0, "", false},
		{"1700000000:" + strings.Repeat("x", turn.MaxPeerIDLen+1), 0, "", false},
	}
	for _, tc := range tests {
		exp, id, err := turn.ParseUsername(tc.in)
		if tc.ok {
			if err != nil || id != tc.id || exp.Unix() != tc.expiry {
				t.Errorf("ParseUsername(%q) = %v, %q, %v; want %d, %q", tc.in, exp.Unix(), id, err, tc.expiry, tc.id)
			}
			continue
		}
		if err == nil || !errors.Is(err, turn.ErrBadUsername) {
			t.Errorf("ParseUsername(%q) = %v, %q, %v; want ErrBadUsername", tc.in, exp, id, err)
		}
	}
}

func FuzzParseUsername(f *testing.F) {
	f.Add("1700000000:0123456789abcdef")
	f.Add("0:x")
	f.Add("1:a:b")
	f.Fuzz(func(t *testing.T, u string) {
		exp, id, err := turn.ParseUsername(u)
		if err != nil {
			return
		}
		// Whatever parses must print back to the same username.
		user, _ := turn.Credentials(nil, id, 0, exp)
		if user != u {
			t.Fatalf("ParseUsername(%q) = %v, %q; reprinted %q", u, exp.Unix(), id, user)
		}
	})
}

func TestPublicPeer(t *testing.T) {
	tests := []struct {
		ip   string
		want bool
	}{
		{"8.8.8.8", true},
		{"1.1.1.1", true},
		{"2606:4700::1111", true},
		{"127.0.0.1", false},
		{"127.255.0.9", false},
		{"::1", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"192.168.1.1", false},
		{"fd00::1", false},
		{"169.254.169.254", false},
		{"fe80::1", false},
		{"0.0.0.0", false},
		{"::", false},
		{"224.0.0.1", false},
		{"239.255.255.250", false},
		{"ff02::1", false},
		{"255.255.255.255", false},
		{"100.64.0.1", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:10.0.0.1", false},
		{"::ffff:8.8.8.8", true},
	}
	for _, tc := range tests {
		if got := turn.PublicPeer(net.ParseIP(tc.ip)); got != tc.want {
			t.Errorf("PublicPeer(%s) = %v, want %v", tc.ip, got, tc.want)
		}
	}
	if turn.PublicPeer(nil) {
		t.Error("PublicPeer(nil) = true")
	}
}
