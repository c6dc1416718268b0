package loadgen

import (
	"testing"
	"time"
)

// TestRunBusyPoll runs keep-alive with epoll busy polling on: the kernel
// takes the parameters (or the test says it cannot), and every response
// is still counted and checked. Loopback has no NAPI instance to poll, so
// this checks the generator with the setting, not the polling.
func TestRunBusyPoll(t *testing.T) {
	requireFeature(t, ProbeBusyPoll(), ErrNoBusyPoll)
	addr := serve(t, hello)
	r, err := Run(Config{Addr: addr, Mode: KeepAlive, Conns: 4, WantLength: 13,
		Warmup: 50 * time.Millisecond, Duration: 150 * time.Millisecond,
		BusyPoll: BusyPoll{Timeout: 10 * time.Microsecond, Budget: 64, Prefer: true}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests == 0 || r.ErrorCount() != 0 {
		t.Fatalf("requests %d, errors %q", r.Requests, r.ErrorString())
	}
}
