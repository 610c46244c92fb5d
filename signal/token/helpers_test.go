package token

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// testNow is the fixed time every test verifier sees.
var testNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

const testRoom = "standup"

func testSecret() []byte { return []byte("test-secret-0123456789abcdef") }

func ptr[T any](v T) *T { return &v }

// newTestVerifier returns a verifier for testSecret whose clock reads testNow.
func newTestVerifier(t testing.TB, opts ...Option) *Verifier {
	t.Helper()
	opts = append([]Option{WithClock(func() time.Time { return testNow })}, opts...)
	v, err := NewVerifier(testSecret(), opts...)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

// validClaims are claims for testRoom that expire an hour after testNow.
func validClaims() jwt.MapClaims {
	return jwt.MapClaims{"room": testRoom, "name": "Alice", "exp": testNow.Add(time.Hour).Unix()}
}

// with returns a copy of c with the given keys set (a nil value deletes).
func with(c jwt.MapClaims, kv ...any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		k := kv[i].(string)
		if kv[i+1] == nil {
			delete(out, k)
			continue
		}
		out[k] = kv[i+1]
	}
	return out
}

// sign signs claims with the given method and key, bypassing Issue's checks.
func sign(t testing.TB, m jwt.SigningMethod, key any, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", m.Alg(), err)
	}
	return s
}

// b64 is JWT's base64url without padding.
func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
