package wsconn

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

// ioTimeout bounds every wait of a test on the network.
const ioTimeout = 15 * time.Second

// TestMain fails the package's tests if any goroutine outlives them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
