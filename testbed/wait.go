package testbed

import (
	"testing"
	"time"
)

// WaitLimit bounds WaitFor: a guard against a test hanging, not a timing
// assertion (generous for a loaded CI machine running -race).
const WaitLimit = 20 * time.Second

// WaitFor polls cond every 5 ms until it holds, failing tb with what was
// awaited after WaitLimit.
func WaitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(WaitLimit); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", WaitLimit, what)
		}
	}
}
