package e2e

// impair_test.go: the tests' handle on internal/impair, the impairing TURN
// relay for loss, delay and rate tests.

import (
	"testing"

	"github.com/videochat/videochat/internal/impair"
)

type impairment = impair.Impairment

// startImpairedTURN runs the relay on 127.0.0.1 for the test's lifetime
// and returns the --ice-server value for `videochat serve`.
func startImpairedTURN(t *testing.T, imp impairment) string {
	t.Helper()
	r, err := impair.Start(imp)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r.ICEServer
}
