package token_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/videochat/videochat/signal/token"
)

func Example() {
	secret := []byte("a long random secret")
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	deny := false
	tok, err := token.Issue(secret, token.Claims{
		Room: "standup", Name: "Alice", CanPublish: &deny, ExpiresAt: now.Add(time.Hour),
	})
	if err != nil {
		panic(err)
	}
	v, err := token.NewVerifier(secret, token.WithClock(func() time.Time { return now }))
	if err != nil {
		panic(err)
	}
	c, err := v.Verify(tok, "standup")
	fmt.Println(c.Name, c.MayPublish(), c.ExpiresAt.Format(time.RFC3339), err)

	// Any refusal is ErrUnauthorized; send the client only the code.
	_, err = v.Verify(tok, "other-room")
	fmt.Println(errors.Is(err, token.ErrUnauthorized))
	// Output:
	// Alice false 2030-01-01T13:00:00Z <nil>
	// true
}
