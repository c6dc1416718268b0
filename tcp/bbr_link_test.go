package tcp_test

import (
	"time"

	"testing"

	"github.com/sluicenet/sluice/tcp"
)

// BBR end to end over the in-memory link: 100 Mbit/s, 20 ms RTT, 1%
// random loss each way (data and ACKs), a 200-segment queue. BBR does
// not take random loss for congestion; CUBIC on the same path sits near
// the Mathis bound. Both transfers are byte-exact.
func TestBBRLossyLink(t *testing.T) {
	const size = 8 << 20
	rate := map[tcp.Algorithm]float64{}
	for _, cc := range []tcp.Algorithm{tcp.BBR, tcp.CUBIC} {
		cfg := tcp.DefaultConfig()
		cfg.CC = cc
		// A BDP of 250 kB needs several in the buffers: BBR keeps 2 BDP
		// in flight plus the holes SACKed data waits behind.
		cfg.SendBuffer, cfg.RecvBuffer = 2<<20, 2<<20
		b := newBulk(t, cfg, size)
		b.l.Rate = 100e6 / 8
		b.l.QueueLimit = 200 * 1500
		b.l.Drop = 0.01
		start := b.l.Now
		st := b.stream()
		el := b.l.Now.Sub(start)
		rate[cc] = float64(size) / el.Seconds()
		t.Logf("%v: %.1f MB/s (%v), %+v", cc, rate[cc]/1e6, el, *st)
	}
	if rate[tcp.BBR] < 0.8*100e6/8 {
		t.Errorf("BBR at 1%% loss: %.1f MB/s of 12.5", rate[tcp.BBR]/1e6)
	}
	if rate[tcp.BBR] < 2*rate[tcp.CUBIC] {
		t.Errorf("BBR %.1f MB/s not above CUBIC %.1f MB/s under random loss", rate[tcp.BBR]/1e6, rate[tcp.CUBIC]/1e6)
	}
}

// Config.Pacing spreads CUBIC's windows over the RTT. With no bottleneck
// to space the ACKs (an unlimited link, 20 ms RTT), an unpaced sender
// sends each slow-start round as one burst; a paced one releases about
// a millisecond of its rate at a time. Both transfers are byte-exact.
func TestCUBICPacing(t *testing.T) {
	const size = 4 << 20
	burst := map[bool]int{}
	for _, paced := range []bool{false, true} {
		cfg := tcp.DefaultConfig()
		cfg.SendBuffer, cfg.RecvBuffer = 1<<20, 1<<20
		cfg.SendBufferMax, cfg.RecvBufferMax = 0, 0 // fixed: the bursts compared are of one window size
		cfg.Pacing = paced
		b := newBulk(t, cfg, size)
		// The largest number of text segments A sends within 1 ms.
		var at []tcp.Instant
		b.l.Filter = func(toB bool, s *tcp.Segment) (bool, time.Duration) {
			if toB && len(s.Payload) > 0 {
				at = append(at, b.l.Now)
				j := 0
				for at[j] <= b.l.Now.Add(-time.Millisecond) {
					j++
				}
				at = at[j:]
				burst[paced] = max(burst[paced], len(at))
			}
			return false, 0
		}
		start := b.l.Now
		st := b.stream()
		t.Logf("paced %v: %v, largest burst %d segments in 1 ms, %+v", paced, b.l.Now.Sub(start), burst[paced], *st)
	}
	if burst[true]*2 > burst[false] {
		t.Errorf("largest 1 ms burst paced %d, unpaced %d: want under half", burst[true], burst[false])
	}
}
