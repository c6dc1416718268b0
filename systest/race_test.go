//go:build race

package systest

// raceEnabled: under the race detector the loop runs several times slower,
// so load tests offer less.
const raceEnabled = true
