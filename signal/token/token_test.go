package token

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestIssueRoundTrip(t *testing.T) {
	v := newTestVerifier(t)
	exp := testNow.Add(90 * time.Minute)
	cases := []Claims{
		{Room: testRoom, Name: "Alice", ExpiresAt: exp},
		{Room: "a.b-c_D9", Name: "Zoë 🎥", ExpiresAt: exp, CanPublish: ptr(false)},
		{Room: strings.Repeat("r", 64), Name: strings.Repeat("ü", 64), ExpiresAt: exp, CanPublish: ptr(true)},
		{Room: testRoom, Name: "sub-second expiry", ExpiresAt: exp.Add(999 * time.Millisecond)},
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			tok, err := Issue(testSecret(), c)
			if err != nil {
				t.Fatalf("Issue: %v", err)
			}
			got, err := v.Verify(tok, c.Room)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := c
			want.ExpiresAt = c.ExpiresAt.Truncate(time.Second)
			assertClaims(t, got, want)
			if len(tok) > MaxLen/4 {
				t.Errorf("token is %d bytes, want well below MaxLen %d", len(tok), MaxLen)
			}
		})
	}
}

func TestIssueTrimsName(t *testing.T) {
	tok, err := Issue(testSecret(), Claims{Room: testRoom, Name: "  Carol  ", ExpiresAt: testNow.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := newTestVerifier(t).Verify(tok, testRoom)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "Carol" {
		t.Errorf("name = %q, want trimmed %q", got.Name, "Carol")
	}
}

func TestIssueRefuses(t *testing.T) {
	ok := Claims{Room: testRoom, Name: "Alice", ExpiresAt: testNow.Add(time.Hour)}
	cases := []struct {
		name   string
		secret []byte
		edit   func(*Claims)
		want   error
	}{
		{"empty secret", []byte{}, func(*Claims) {}, ErrNoSecret},
		{"nil secret", nil, func(*Claims) {}, ErrNoSecret},
		{"empty room", testSecret(), func(c *Claims) { c.Room = "" }, ErrBadClaims},
		{"room with slash", testSecret(), func(c *Claims) { c.Room = "a/b" }, ErrBadClaims},
		{"room too long", testSecret(), func(c *Claims) { c.Room = strings.Repeat("r", 65) }, ErrBadClaims},
		{"empty name", testSecret(), func(c *Claims) { c.Name = " " }, ErrBadClaims},
		{"control char in name", testSecret(), func(c *Claims) { c.Name = "a\x00b" }, ErrBadClaims},
		{"name too long", testSecret(), func(c *Claims) { c.Name = strings.Repeat("n", 65) }, ErrBadClaims},
		{"no expiry", testSecret(), func(c *Claims) { c.ExpiresAt = time.Time{} }, ErrBadClaims},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			tok, err := Issue(tc.secret, c)
			if !errors.Is(err, tc.want) || tok != "" {
				t.Errorf("Issue = %q, %v; want error %v", tok, err, tc.want)
			}
		})
	}
}

func TestIssuedExpiredTokenRefused(t *testing.T) {
	tok, err := Issue(testSecret(), Claims{Room: testRoom, Name: "Alice", ExpiresAt: testNow.Add(-time.Hour)})
	if err != nil {
		t.Fatalf("Issue of an already expired token: %v", err)
	}
	if _, err := newTestVerifier(t).Verify(tok, testRoom); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("err = %v, want ErrUnauthorized", err)
	}
}

func TestMayPublish(t *testing.T) {
	for _, tc := range []struct {
		p    *bool
		want bool
	}{{nil, true}, {ptr(true), true}, {ptr(false), false}} {
		if got := (Claims{CanPublish: tc.p}).MayPublish(); got != tc.want {
			t.Errorf("MayPublish(%v) = %v, want %v", tc.p, got, tc.want)
		}
	}
}
