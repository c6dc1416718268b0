package server

import (
	"net/netip"
	"runtime"
	"testing"

	"github.com/sluicenet/sluice/testbed"
)

// TestSystemAllocs: the callback server end to end (sluice's loop, TCP,
// this package) allocates next to nothing per request in steady state:
// wrk (another process) drives keep-alive requests and the test process's
// heap allocation count, which is the server's, is read before and after.
// The same run through net/http on the Listener adapter is logged for
// comparison. (Logged, not checked, under the race detector: it drops
// pooled objects.)
func TestSystemAllocs(t *testing.T) {
	bed := testbed.New(t, testbed.Options{})
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			s := startHTTPD(t, bed, mode.stdlib)
			defer s.Close()
			base := "http://" + netip.AddrPortFrom(bed.Server.IPv4, testPort).String()
			// Warm up: connections, pools and buffers reach their steady size.
			peerRun(t, bed, "wrk", "-t1", "-c10", "-d1s", base+"/")
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			out, _ := peerRun(t, bed, "wrk", "-t1", "-c10", "-d2s", base+"/")
			runtime.ReadMemStats(&after)
			n := atoiMatch(wrkRequests, out)
			if n <= 0 {
				t.Fatalf("wrk: %d requests\n%s", n, out)
			}
			mallocs := after.Mallocs - before.Mallocs
			perReq := float64(mallocs) / float64(n)
			t.Logf("%d requests in 2 s, %d heap allocations: %.4f per request, %.1f bytes per request",
				n, mallocs, perReq, float64(after.TotalAlloc-before.TotalAlloc)/float64(n))
			// The bound leaves room for the run's fixed costs (10 new
			// connections, timers, the test's own goroutines), not for
			// one allocation per request.
			if !mode.stdlib && perReq > 0.05 && !raceEnabled {
				t.Errorf("%.4f allocations per request, want ~0", perReq)
			}
		})
	}
}

// TestSystemTwoLoops: two queues, two loops (connections spread by the
// steering program): the handler's shared state (pool, writer template)
// under concurrent loops, with ab and Go's client.
func TestSystemTwoLoops(t *testing.T) {
	bed := testbed.New(t, testbed.Options{Queues: 2})
	s := startHTTPD(t, bed, false)
	if got := s.Sluice().Info().Loops; got != 2 {
		t.Fatalf("%d loops, want 2", got)
	}
	for _, ip := range []netip.Addr{bed.Server.IPv4, bed.Server.IPv6} {
		host := netip.AddrPortFrom(ip, testPort).String()
		t.Run(ip.String(), func(t *testing.T) {
			abRun(t, bed, "http://"+host)
			goClient(t, bed, host)
		})
	}
	st, err := s.Sluice().Stats()
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range st.Loops {
		t.Logf("loop %d (queue %d): %d connections established; segments forwarded out %d, in %d; %d to no connection (RST)",
			i, l.Queue, l.Established, l.ForwardedOut, l.ForwardedIn, l.NoConn)
	}
	hs := s.Stats()
	t.Logf("timeouts: head %d, body %d, idle %d, write %d, linger %d",
		hs.HeadTimeouts.Load(), hs.BodyTimeouts.Load(), hs.IdleTimeouts.Load(), hs.WriteTimeouts.Load(), hs.LingerTimeouts.Load())
}
