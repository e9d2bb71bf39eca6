//go:build !race

package browsertest

// raceEnabled: the tests run without the race detector.
const raceEnabled = false
