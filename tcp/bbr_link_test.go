package tcp_test

import (
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
