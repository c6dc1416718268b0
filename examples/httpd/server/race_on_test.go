//go:build race

package server

// raceEnabled: the race detector makes sync.Pool drop a share of what is
// put back, so allocation counts are not steady-state ones.
const raceEnabled = true
