package web_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves goroutines behind: every
// test shuts its signalling server and browsers down in its cleanup.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
