package token

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/videochat/videochat/signal/proto"
)

// DefaultLeeway is the clock skew Verify tolerates on exp and nbf unless
// WithLeeway says otherwise.
const DefaultLeeway = 30 * time.Second

// Reasons wrapped (with ErrUnauthorized) into Verify's errors, besides the
// jwt package's own errors. For logs and tests only.
var (
	errTooLong   = errors.New("token too long")
	errAlg       = errors.New("signing method is not HS256")
	errNoExpiry  = errors.New("token has no expiry")
	errBadRoom   = errors.New("requested room name is invalid")
	errWrongRoom = errors.New("token is for another room")
	errBadName   = errors.New("token's name is not a valid display name")
)

// Verifier checks tokens signed with one secret. It is safe for concurrent
// use.
type Verifier struct {
	secret []byte
	leeway time.Duration
	now    func() time.Time
}

// Option configures a Verifier.
type Option func(*Verifier)

// WithLeeway sets the clock skew tolerated on exp and nbf (default
// DefaultLeeway). Negative values count as zero.
func WithLeeway(d time.Duration) Option {
	return func(v *Verifier) { v.leeway = max(d, 0) }
}

// WithClock makes the verifier read the time from now instead of time.Now;
// for tests.
func WithClock(now func() time.Time) Option {
	return func(v *Verifier) {
		if now != nil {
			v.now = now
		}
	}
}

// NewVerifier returns a Verifier for tokens signed with secret. The secret
// is copied. An empty secret is refused with ErrNoSecret, because an empty
// HMAC key would let anyone mint tokens.
func NewVerifier(secret []byte, opts ...Option) (*Verifier, error) {
	if len(secret) == 0 {
		return nil, fmt.Errorf("new verifier: %w", ErrNoSecret)
	}
	v := &Verifier{
		secret: append([]byte(nil), secret...),
		leeway: DefaultLeeway,
		now:    time.Now,
	}
	for _, o := range opts {
		o(v)
	}
	return v, nil
}

// Verify checks that tok is an HS256 token signed with the verifier's
// secret, not expired (exp is required) and not before its nbf if it has
// one (both within the leeway), for room, with a valid display name. It
// returns the token's claims with the name trimmed. Every failure matches
// errors.Is(err, ErrUnauthorized); the wrapped detail is for logs only.
func (v *Verifier) Verify(tok, room string) (Claims, error) {
	if len(tok) > MaxLen {
		return Claims{}, unauthorized(errTooLong)
	}
	var wc wireClaims
	if _, err := v.parser().ParseWithClaims(tok, &wc, v.key); err != nil {
		return Claims{}, unauthorized(err)
	}
	return check(&wc, room)
}

// parser returns a parser that accepts only HS256, requires exp and judges
// time with the verifier's clock and leeway.
func (v *Verifier) parser() *jwt.Parser {
	return jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(v.leeway),
		jwt.WithTimeFunc(v.now),
		jwt.WithStrictDecoding(),
	)
}

// key is the jwt.Keyfunc: it hands out the secret for HS256 tokens only
// (a second guard besides WithValidMethods).
func (v *Verifier) key(t *jwt.Token) (any, error) {
	if t.Method != jwt.SigningMethodHS256 {
		return nil, errAlg
	}
	return v.secret, nil
}

// check applies the claim rules the jwt package does not know about.
func check(wc *wireClaims, room string) (Claims, error) {
	if wc.ExpiresAt == nil {
		return Claims{}, unauthorized(errNoExpiry)
	}
	if !proto.ValidRoom(room) {
		return Claims{}, unauthorized(fmt.Errorf("%w: %q", errBadRoom, room))
	}
	if wc.Room != room {
		return Claims{}, unauthorized(fmt.Errorf("%w: token room %q, asked for %q", errWrongRoom, wc.Room, room))
	}
	name, perr := proto.CleanName(wc.Name)
	if perr != nil {
		return Claims{}, unauthorized(fmt.Errorf("%w: %s", errBadName, perr.Message))
	}
	return Claims{
		Room:       wc.Room,
		Name:       name,
		CanPublish: wc.CanPublish,
		ExpiresAt:  wc.ExpiresAt.UTC(),
	}, nil
}

// unauthorized wraps a detail under ErrUnauthorized.
func unauthorized(detail error) error {
	return fmt.Errorf("%w: %w", ErrUnauthorized, detail)
}
