package token

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/videochat/videochat/signal/proto"
)

// FuzzVerify feeds arbitrary tokens and rooms to a verifier with the test
// secret and clock. Verify must never panic, must refuse with
// ErrUnauthorized and empty claims, and may accept only tokens whose claims
// obey every rule and survive a round trip through Issue and Verify.
// Seeds: testdata/fuzz/FuzzVerify (valid, alg none, truncated, …).
func FuzzVerify(f *testing.F) {
	v := newTestVerifier(f)
	f.Add(hs256(f, validClaims()), testRoom)
	f.Fuzz(func(t *testing.T, tok, room string) {
		got, err := v.Verify(tok, room)
		if err != nil {
			if !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("refusal %v does not wrap ErrUnauthorized", err)
			}
			if got != (Claims{}) {
				t.Fatalf("refused token returned claims %+v", got)
			}
			return
		}
		checkAccepted(t, v, got, room)
		again, err := v.Verify(tok, room)
		if err != nil || !sameClaims(again, got) {
			t.Fatalf("second Verify = %+v, %v; first gave %+v", again, err, got)
		}
		reissued, err := Issue(testSecret(), got)
		if err != nil {
			t.Fatalf("Issue(accepted claims %+v): %v", got, err)
		}
		round, err := v.Verify(reissued, room)
		if err != nil || !sameClaims(round, got) {
			t.Fatalf("re-issued token verifies as %+v, %v; want %+v", round, err, got)
		}
	})
}

// FuzzIssueVerify checks that Issue and Verify agree: claims Issue signs
// verify unchanged, and claims Issue refuses are refused by Verify too when
// signed by hand.
func FuzzIssueVerify(f *testing.F) {
	v := newTestVerifier(f)
	f.Add("standup", "Alice", int8(0), int64(3600))
	f.Add("a.b-c_D", " Zoë 🎥 ", int8(2), int64(1))
	f.Add("a/b", "Bob", int8(1), int64(60))
	f.Add("room", "ctl\x07", int8(0), int64(60))
	f.Add("room", "", int8(0), int64(60))
	f.Fuzz(func(t *testing.T, room, name string, publish int8, ttl int64) {
		ttl = 1 + int64(uint64(ttl)%(10*365*24*3600)) // 1 s … 10 years ahead
		c := Claims{Room: room, Name: name, ExpiresAt: testNow.Add(time.Duration(ttl) * time.Second)}
		switch publish % 3 {
		case 1:
			c.CanPublish = ptr(true)
		case 2, -2:
			c.CanPublish = ptr(false)
		}
		tok, err := Issue(testSecret(), c)
		if err != nil {
			if !errors.Is(err, ErrBadClaims) {
				t.Fatalf("Issue error %v is not ErrBadClaims", err)
			}
			if !utf8.ValidString(name) {
				return // JSON cannot carry it: the hand-signed token would hold U+FFFD
			}
			wire := jwt.MapClaims{"room": room, "name": name, "exp": c.ExpiresAt.Unix()}
			if _, verr := v.Verify(hs256(t, wire), room); verr == nil {
				t.Fatalf("Issue refused %+v (%v) but Verify accepts it", c, err)
			}
			return
		}
		got, err := v.Verify(tok, room)
		if err != nil {
			t.Fatalf("Verify(Issue(%+v)): %v", c, err)
		}
		checkAccepted(t, v, got, room)
		want := c
		want.Name, _ = proto.CleanName(name)
		want.ExpiresAt = c.ExpiresAt.Truncate(time.Second)
		if !sameClaims(got, want) {
			t.Fatalf("round trip = %+v, want %+v", got, want)
		}
	})
}

// checkAccepted asserts the rules every accepted token's claims obey.
func checkAccepted(t *testing.T, v *Verifier, c Claims, room string) {
	t.Helper()
	if c.Room != room || !proto.ValidRoom(c.Room) {
		t.Fatalf("accepted claims for room %q when asked for %q", c.Room, room)
	}
	if clean, err := proto.CleanName(c.Name); err != nil || clean != c.Name {
		t.Fatalf("accepted name %q is not clean (%v)", c.Name, err)
	}
	if c.ExpiresAt.IsZero() || c.ExpiresAt.Add(v.leeway).Before(testNow) {
		t.Fatalf("accepted token expired at %v (now %v)", c.ExpiresAt, testNow)
	}
}

func sameClaims(a, b Claims) bool {
	if a.Room != b.Room || a.Name != b.Name || !a.ExpiresAt.Equal(b.ExpiresAt) {
		return false
	}
	if (a.CanPublish == nil) != (b.CanPublish == nil) {
		return false
	}
	return a.CanPublish == nil || *a.CanPublish == *b.CanPublish
}

// TestFuzzVerifySeeds keeps the stored seed corpus meaningful: the "valid"
// seeds must still verify with the test secret and clock (so the fuzzer
// starts from an accepted token) and the attack seeds must be refused.
func TestFuzzVerifySeeds(t *testing.T) {
	v := newTestVerifier(t)
	for file, wantOK := range map[string]bool{
		"valid": true, "valid_can_publish_false": true,
		"alg_none": false, "truncated": false, "no_signature": false, "wrong_room": false,
		"expired": false, "hs512": false, "rs256_confusion": false, "empty": false, "garbage": false,
	} {
		tok, room := readSeed(t, file)
		_, err := v.Verify(tok, room)
		if (err == nil) != wantOK {
			t.Errorf("seed %s: Verify err = %v, want accepted=%v", file, err, wantOK)
		}
	}
}

// readSeed reads a two-string seed file of testdata/fuzz/FuzzVerify.
func readSeed(t *testing.T, file string) (tok, room string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzVerify", file))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 3 || lines[0] != "go test fuzz v1" {
		t.Fatalf("seed %s: unexpected format %q", file, data)
	}
	var vals [2]string
	for i, l := range lines[1:] {
		q, ok := strings.CutPrefix(l, "string(")
		q, ok2 := strings.CutSuffix(q, ")")
		if !ok || !ok2 {
			t.Fatalf("seed %s: line %q is not string(...)", file, l)
		}
		if vals[i], err = strconv.Unquote(q); err != nil {
			t.Fatalf("seed %s: %v", file, err)
		}
	}
	return vals[0], vals[1]
}
