//go:build !race

package photo

// raceEnabled is true when the tests run under the race detector.
const raceEnabled = false
