package peer

import "errors"

// Sentinel errors returned by the native peer.
var (
	// ErrAlreadyRunning: Run was called on a Peer that already ran.
	ErrAlreadyRunning = errors.New("peer: Run called twice")
	// ErrSignallingLost: the signalling WebSocket ended without a bye.
	ErrSignallingLost = errors.New("signalling connection lost")
	// ErrNoPeers: a chat line had nobody to go to (no open chat channel).
	ErrNoPeers = errors.New("no connected peer to send to")
	// ErrNotOfferer: RestartICE on a connection the other side offered;
	// only the side that made the first offer restarts ICE.
	ErrNotOfferer = errors.New("only the side that made the first offer restarts ICE")
	// ErrNoWelcome: the server answered the join with something unexpected.
	ErrNoWelcome = errors.New("server did not welcome the join")
)
