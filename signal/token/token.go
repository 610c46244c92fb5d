// Package token issues and verifies signed room tokens: JWTs (HS256) that
// admit one display name to one room until an expiry time.
//
// A token carries the claims "room", "name", "exp" and, optionally,
// "can_publish". [Issue] signs one; a [Verifier] checks one against the room
// a client asks to join.
//
// Every refusal is reported as [ErrUnauthorized], whatever the reason (bad
// signature, wrong algorithm, expired, wrong room, bad name, garbage). The
// detail is wrapped into the error for the server's log and must never be
// sent to the client. The verifier knows nothing about which rooms exist: a
// server should verify the token before it looks at the room's state (exists,
// full, …), so that a client without a valid token gets the same
// "unauthorized" answer for a room that does not exist as for one it may not
// enter, and cannot enumerate rooms.
package token

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/videochat/videochat/signal/proto"
)

// Sentinel errors. Verify returns only errors that match ErrUnauthorized;
// Issue and NewVerifier return the others.
var (
	// ErrUnauthorized: the token does not admit this client to this room.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrNoSecret: the signing secret is empty.
	ErrNoSecret = errors.New("token secret is empty")
	// ErrBadClaims: Issue was given claims that no verifier would accept.
	ErrBadClaims = errors.New("invalid token claims")
)

// MaxLen is the longest token Verify looks at, in bytes. Tokens made by
// Issue are well below it (a few hundred bytes).
const MaxLen = 4096

// Claims is what a token grants.
type Claims struct {
	// Room is the one room the token admits to.
	Room string
	// Name is the display name the holder joins with.
	Name string
	// CanPublish says whether the holder may send media; nil means true.
	CanPublish *bool
	// ExpiresAt is when the token stops being valid. On the wire it is
	// whole seconds; Verify reports it truncated to the second, in UTC.
	ExpiresAt time.Time
}

// MayPublish reports whether the holder may send media (CanPublish, or
// true when it is unset).
func (c Claims) MayPublish() bool {
	return c.CanPublish == nil || *c.CanPublish
}

// wireClaims is the JSON payload of a token.
type wireClaims struct {
	Room       string `json:"room"`
	Name       string `json:"name"`
	CanPublish *bool  `json:"can_publish,omitempty"`
	jwt.RegisteredClaims
}

// Issue returns a token for c signed with secret (HS256). The room must be a
// valid room name (proto.ValidRoom), the name a valid display name
// (proto.CleanName; it is stored trimmed) and ExpiresAt set. ExpiresAt may
// lie in the past: the token is then already expired.
func Issue(secret []byte, c Claims) (string, error) {
	if len(secret) == 0 {
		return "", fmt.Errorf("issue token: %w", ErrNoSecret)
	}
	if !proto.ValidRoom(c.Room) {
		return "", fmt.Errorf("issue token: %w: room %q", ErrBadClaims, c.Room)
	}
	name, perr := proto.CleanName(c.Name)
	if perr != nil {
		return "", fmt.Errorf("issue token: %w: name: %s", ErrBadClaims, perr.Message)
	}
	if c.ExpiresAt.IsZero() {
		return "", fmt.Errorf("issue token: %w: no expiry", ErrBadClaims)
	}
	wc := wireClaims{
		Room:             c.Room,
		Name:             name,
		CanPublish:       c.CanPublish,
		RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(c.ExpiresAt)},
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, wc).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("issue token: %w", err)
	}
	return s, nil
}
