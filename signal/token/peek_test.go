package token

import (
	"testing"
	"time"
)

func TestPeek(t *testing.T) {
	no := false
	exp := time.Now().Add(-time.Hour).Truncate(time.Second).UTC() // expired: Peek does not care
	tok, err := Issue([]byte("some other secret"), Claims{Room: "r", Name: "viewer", CanPublish: &no, ExpiresAt: exp})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Peek(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Room != "r" || c.Name != "viewer" || c.MayPublish() || !c.ExpiresAt.Equal(exp) {
		t.Fatalf("Peek = %+v", c)
	}
	plain, err := Issue([]byte("s"), Claims{Room: "r", Name: "pub", ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := Peek(plain); err != nil || !c.MayPublish() {
		t.Fatalf("Peek(publisher token) = %+v, %v; want MayPublish", c, err)
	}
	for _, bad := range []string{"", "x.y", "not a token at all"} {
		if _, err := Peek(bad); err == nil {
			t.Errorf("Peek(%q) succeeded", bad)
		}
	}
}
