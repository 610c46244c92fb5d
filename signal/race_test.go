//go:build race

package signal

// raceEnabled: the race detector slows this process (server and test
// clients alike) by 5–10x; latency bounds scale with it.
const raceEnabled = true
