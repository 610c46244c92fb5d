//go:build !race

package signal

// raceEnabled reports whether the tests run under the race detector.
const raceEnabled = false
