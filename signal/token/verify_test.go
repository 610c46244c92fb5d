package token

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// hs256 signs c with the test secret, bypassing Issue's checks.
func hs256(t testing.TB, c jwt.MapClaims) string {
	t.Helper()
	return sign(t, jwt.SigningMethodHS256, testSecret(), c)
}

// hmacRaw builds header.body.sig from raw JSON texts, with an HMAC-SHA256
// signature made with the test secret whatever the header says.
func hmacRaw(header, body string) string {
	unsigned := b64([]byte(header)) + "." + b64([]byte(body))
	mac := hmac.New(sha256.New, testSecret())
	mac.Write([]byte(unsigned))
	return unsigned + "." + b64(mac.Sum(nil))
}

// confused builds a token whose header names alg but whose signature is an
// HMAC-SHA256 with the test secret: the classic algorithm-confusion forgery.
func confused(t testing.TB, alg string, c jwt.MapClaims) string {
	t.Helper()
	body, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return hmacRaw(`{"alg":"`+alg+`","typ":"JWT"}`, string(body))
}

// algNone builds the literal unsigned token `eyJhbGciOiJub25lIn0.<claims>.`.
func algNone(t testing.TB, c jwt.MapClaims) string {
	t.Helper()
	body, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return "eyJhbGciOiJub25lIn0." + b64(body) + "."
}

type verifyCase struct {
	name   string
	tok    string
	room   string // defaults to testRoom
	want   *Claims
	detail error // wrapped reason for refusals; nil = any
}

func verifyCases(t *testing.T) []verifyCase {
	valid := validClaims()
	exp := testNow.Add(time.Hour)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	good := hs256(t, valid)
	parts := strings.Split(good, ".")
	return []verifyCase{
		{name: "valid", tok: good, want: &Claims{Room: testRoom, Name: "Alice", ExpiresAt: exp}},
		{name: "name is trimmed", tok: hs256(t, with(valid, "name", "  Bob \t")),
			want: &Claims{Room: testRoom, Name: "Bob", ExpiresAt: exp}},
		{name: "unicode name", tok: hs256(t, with(valid, "name", "Zoë 🎥 李")),
			want: &Claims{Room: testRoom, Name: "Zoë 🎥 李", ExpiresAt: exp}},
		{name: "can_publish false", tok: hs256(t, with(valid, "can_publish", false)),
			want: &Claims{Room: testRoom, Name: "Alice", CanPublish: ptr(false), ExpiresAt: exp}},
		{name: "can_publish true", tok: hs256(t, with(valid, "can_publish", true)),
			want: &Claims{Room: testRoom, Name: "Alice", CanPublish: ptr(true), ExpiresAt: exp}},
		{name: "fractional exp is truncated", tok: hs256(t, with(valid, "exp", float64(exp.Unix())+0.75)),
			want: &Claims{Room: testRoom, Name: "Alice", ExpiresAt: exp}},
		{name: "expired within leeway", tok: hs256(t, with(valid, "exp", testNow.Add(-20*time.Second).Unix())),
			want: &Claims{Room: testRoom, Name: "Alice", ExpiresAt: testNow.Add(-20 * time.Second)}},
		{name: "nbf within leeway", tok: hs256(t, with(valid, "nbf", testNow.Add(20*time.Second).Unix())),
			want: &Claims{Room: testRoom, Name: "Alice", ExpiresAt: exp}},
		{name: "nbf in the past", tok: hs256(t, with(valid, "nbf", testNow.Add(-time.Hour).Unix())),
			want: &Claims{Room: testRoom, Name: "Alice", ExpiresAt: exp}},

		{name: "expired", tok: hs256(t, with(valid, "exp", testNow.Add(-time.Minute).Unix())), detail: jwt.ErrTokenExpired},
		{name: "exp zero", tok: hs256(t, with(valid, "exp", 0)), detail: jwt.ErrTokenExpired},
		{name: "exp huge", tok: hs256(t, with(valid, "exp", 1e300)), detail: jwt.ErrTokenExpired},
		{name: "exp missing", tok: hs256(t, with(valid, "exp", nil)), detail: jwt.ErrTokenRequiredClaimMissing},
		{name: "exp is a string", tok: hs256(t, with(valid, "exp", "tomorrow")), detail: jwt.ErrTokenMalformed},
		{name: "not yet valid", tok: hs256(t, with(valid, "nbf", testNow.Add(time.Minute).Unix())), detail: jwt.ErrTokenNotValidYet},
		{name: "wrong room", tok: good, room: "other", detail: errWrongRoom},
		{name: "room differs in case", tok: good, room: "Standup", detail: errWrongRoom},
		{name: "room missing", tok: hs256(t, with(valid, "room", nil)), detail: errWrongRoom},
		{name: "invalid requested room", tok: hs256(t, with(valid, "room", "a/b")), room: "a/b", detail: errBadRoom},
		{name: "empty room both sides", tok: hs256(t, with(valid, "room", "")), room: "", detail: errBadRoom},
		{name: "room is a number", tok: hs256(t, with(valid, "room", 5)), detail: jwt.ErrTokenMalformed},
		{name: "name missing", tok: hs256(t, with(valid, "name", nil)), detail: errBadName},
		{name: "name blank", tok: hs256(t, with(valid, "name", "   ")), detail: errBadName},
		{name: "name with control char", tok: hs256(t, with(valid, "name", "Al\x07ice")), detail: errBadName},
		{name: "name with newline", tok: hs256(t, with(valid, "name", "Al\nice")), detail: errBadName},
		{name: "name too long", tok: hs256(t, with(valid, "name", strings.Repeat("é", 65))), detail: errBadName},
		{name: "can_publish is a string", tok: hs256(t, with(valid, "can_publish", "no")), detail: jwt.ErrTokenMalformed},
		{name: "wrong secret", tok: sign(t, jwt.SigningMethodHS256, []byte("another-secret"), valid), detail: jwt.ErrTokenSignatureInvalid},
		{name: "tampered claims", tok: parts[0] + "." + b64([]byte(`{"room":"standup","name":"Mallory","exp":1999999999}`)) + "." + parts[2],
			detail: jwt.ErrTokenSignatureInvalid},
		{name: "signature stripped", tok: parts[0] + "." + parts[1] + ".", detail: jwt.ErrTokenSignatureInvalid},
		{name: "alg none literal", tok: algNone(t, valid), detail: jwt.ErrTokenSignatureInvalid},
		{name: "alg none via library", tok: sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid),
			detail: jwt.ErrTokenSignatureInvalid},
		{name: "HS512 with the right secret", tok: sign(t, jwt.SigningMethodHS512, testSecret(), valid), detail: jwt.ErrTokenSignatureInvalid},
		{name: "HS384 with the right secret", tok: sign(t, jwt.SigningMethodHS384, testSecret(), valid), detail: jwt.ErrTokenSignatureInvalid},
		{name: "RS256 signed by an RSA key", tok: sign(t, jwt.SigningMethodRS256, rsaKey, valid), detail: jwt.ErrTokenSignatureInvalid},
		{name: "RS256 header, HMAC signature", tok: confused(t, "RS256", valid), detail: jwt.ErrTokenSignatureInvalid},
		{name: "unknown alg", tok: confused(t, "XS256", valid), detail: jwt.ErrTokenUnverifiable},
		{name: "empty", tok: "", detail: jwt.ErrTokenMalformed},
		{name: "garbage", tok: "not a token", detail: jwt.ErrTokenMalformed},
		{name: "two dots of garbage", tok: "a.b.c", detail: jwt.ErrTokenMalformed},
		{name: "four segments", tok: good + ".x", detail: jwt.ErrTokenMalformed},
		{name: "claims not an object", tok: hmacRaw(`{"alg":"HS256"}`, `[1,2]`), detail: jwt.ErrTokenMalformed},
		{name: "claims null", tok: hmacRaw(`{"alg":"HS256"}`, `null`), detail: jwt.ErrTokenRequiredClaimMissing},
		{name: "claims not JSON", tok: hmacRaw(`{"alg":"HS256"}`, `{"room":`), detail: jwt.ErrTokenMalformed},
		{name: "header not JSON", tok: hmacRaw(`{"alg":`, `{}`), detail: jwt.ErrTokenMalformed},
		{name: "header without alg", tok: hmacRaw(`{"typ":"JWT"}`, `{}`), detail: jwt.ErrTokenUnverifiable},
		{name: "alg in wrong case", tok: confused(t, "hs256", valid), detail: jwt.ErrTokenUnverifiable},
		{name: "duplicate room claim, last wins", tok: hmacRaw(`{"alg":"HS256"}`,
			`{"room":"standup","name":"A","exp":1999999999,"room":"other"}`), detail: errWrongRoom},
		{name: "too long", tok: good + strings.Repeat("A", MaxLen), detail: errTooLong},
	}
}

func TestVerify(t *testing.T) {
	v := newTestVerifier(t)
	for _, tc := range verifyCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			room := tc.room
			if room == "" && tc.detail != errBadRoom {
				room = testRoom
			}
			got, err := v.Verify(tc.tok, room)
			if tc.want != nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				assertClaims(t, got, *tc.want)
				return
			}
			if !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("Verify err = %v, want ErrUnauthorized", err)
			}
			if tc.detail != nil && !errors.Is(err, tc.detail) {
				t.Errorf("Verify err = %v, want it to wrap %v", err, tc.detail)
			}
			if got != (Claims{}) {
				t.Errorf("refused token returned claims %+v", got)
			}
		})
	}
}

func assertClaims(t *testing.T, got, want Claims) {
	t.Helper()
	if got.Room != want.Room || got.Name != want.Name || !got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Errorf("claims = %+v, want %+v", got, want)
	}
	if (got.CanPublish == nil) != (want.CanPublish == nil) ||
		(got.CanPublish != nil && *got.CanPublish != *want.CanPublish) {
		t.Errorf("CanPublish = %v, want %v", got.CanPublish, want.CanPublish)
	}
	if got.MayPublish() != want.MayPublish() {
		t.Errorf("MayPublish = %v, want %v", got.MayPublish(), want.MayPublish())
	}
}

func TestVerifyLeeway(t *testing.T) {
	tok := hs256(t, with(validClaims(), "exp", testNow.Add(-20*time.Second).Unix()))
	if _, err := newTestVerifier(t, WithLeeway(0)).Verify(tok, testRoom); !errors.Is(err, jwt.ErrTokenExpired) {
		t.Errorf("leeway 0: err = %v, want expired", err)
	}
	if _, err := newTestVerifier(t, WithLeeway(time.Minute)).Verify(tok, testRoom); err != nil {
		t.Errorf("leeway 1m: %v", err)
	}
	if _, err := newTestVerifier(t, WithLeeway(-time.Hour)).Verify(tok, testRoom); !errors.Is(err, jwt.ErrTokenExpired) {
		t.Errorf("negative leeway: err = %v, want expired", err)
	}
}

func TestVerifyUsesClock(t *testing.T) {
	tok := hs256(t, validClaims()) // expires testNow+1h
	var mu sync.Mutex
	now := testNow
	v := newTestVerifier(t, WithClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now }))
	if _, err := v.Verify(tok, testRoom); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	mu.Lock()
	now = testNow.Add(time.Hour + DefaultLeeway + time.Second)
	mu.Unlock()
	if _, err := v.Verify(tok, testRoom); !errors.Is(err, jwt.ErrTokenExpired) {
		t.Fatalf("after expiry + leeway: err = %v, want expired", err)
	}
}

func TestNewVerifier(t *testing.T) {
	if _, err := NewVerifier(nil); !errors.Is(err, ErrNoSecret) {
		t.Errorf("nil secret: err = %v, want ErrNoSecret", err)
	}
	if _, err := NewVerifier([]byte{}); !errors.Is(err, ErrNoSecret) {
		t.Errorf("empty secret: err = %v, want ErrNoSecret", err)
	}
	secret := testSecret()
	v, err := NewVerifier(secret, WithClock(func() time.Time { return testNow }))
	if err != nil {
		t.Fatal(err)
	}
	tok := hs256(t, validClaims())
	secret[0] ^= 0xff // the verifier keeps its own copy
	if _, err := v.Verify(tok, testRoom); err != nil {
		t.Errorf("after caller changed its secret slice: %v", err)
	}
}

// A token signed with an empty key (accepted by the jwt package) never
// verifies, and no verifier with an empty key can exist.
func TestEmptyKeyTokenRefused(t *testing.T) {
	tok := sign(t, jwt.SigningMethodHS256, []byte{}, validClaims())
	if _, err := newTestVerifier(t).Verify(tok, testRoom); !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
		t.Errorf("err = %v, want signature invalid", err)
	}
}

func TestVerifyConcurrent(t *testing.T) {
	v := newTestVerifier(t)
	good := hs256(t, validClaims())
	bad := hs256(t, with(validClaims(), "exp", testNow.Add(-time.Hour).Unix()))
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if _, err := v.Verify(good, testRoom); err != nil {
					errs <- err
					return
				}
				if _, err := v.Verify(bad, testRoom); err == nil {
					errs <- errors.New("expired token accepted")
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
