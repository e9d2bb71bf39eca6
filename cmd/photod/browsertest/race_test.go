//go:build race

package browsertest

// raceEnabled: the tests run with the race detector, so photod is built
// with it too.
const raceEnabled = true
