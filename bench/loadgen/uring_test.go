package loadgen

import (
	"testing"
	"time"
)

// TestRunURing runs keep-alive with the receives and sends batched
// through io_uring against a correct server and a broken one: responses
// are counted and checked as with a system call per connection.
func TestRunURing(t *testing.T) {
	requireFeature(t, ProbeURing(), ErrNoURing)
	addr := serve(t, hello)
	res, err := Run(Config{Addr: addr, Mode: KeepAlive, Conns: 8, WantLength: 13, URing: true,
		Warmup: 50 * time.Millisecond, Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.Latency.TotalCount() != int64(res.Requests) || res.ErrorCount() != 0 {
		t.Fatalf("requests %d, latency samples %d, errors %q", res.Requests, res.Latency.TotalCount(), res.ErrorString())
	}
	bad := serve(t, hello)
	res, err = Run(Config{Addr: bad, Mode: KeepAlive, Conns: 4, WantLength: 12, URing: true,
		Warmup: 20 * time.Millisecond, Duration: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 0 || res.Errors[ErrLength] == 0 {
		t.Fatalf("wrong length: requests %d, errors %q", res.Requests, res.ErrorString())
	}
}
