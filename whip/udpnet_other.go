//go:build !linux

package whip

import (
	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
)

// NewNet returns the network for the server's SettingEngine.SetNet: the
// standard one (the quiet UDP writes of udpnet_linux.go are Linux only).
func NewNet() (transport.Net, error) { return stdnet.NewNet() }
