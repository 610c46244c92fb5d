package token

import (
	"fmt"

	"github.com/golang-jwt/jwt/v5"
)

// Peek returns the claims of tok without checking its signature or
// expiry. It is for a client reading its own token (to skip opening a
// camera it may not publish from, say); it must never decide access, which
// is the server's Verify.
func Peek(tok string) (Claims, error) {
	if len(tok) > MaxLen {
		return Claims{}, errTooLong
	}
	var wc wireClaims
	if _, _, err := jwt.NewParser().ParseUnverified(tok, &wc); err != nil {
		return Claims{}, fmt.Errorf("read token: %w", err)
	}
	c := Claims{Room: wc.Room, Name: wc.Name, CanPublish: wc.CanPublish}
	if wc.ExpiresAt != nil {
		c.ExpiresAt = wc.ExpiresAt.UTC()
	}
	return c, nil
}
