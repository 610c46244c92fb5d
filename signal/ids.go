package signal

import (
	"crypto/rand"
	"encoding/hex"
)

// peerIDBytes is the number of random bytes in a peer id (16 hex digits).
const peerIDBytes = 8

// newPeerID returns a random peer id of 16 lower-case hex digits.
func newPeerID() string {
	b := make([]byte, peerIDBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error.
	return hex.EncodeToString(b)
}
