package tcp_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sluicenet/sluice/tcp"
	. "github.com/sluicenet/sluice/tcp/tcptest"
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
		b := newBulkBuffers(t, cfg, size, 2<<20)
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

// newBulkBuffers is newBulk with buffers of buf octets (a BDP of 250 kB
// needs several for BBR's 2 BDP in flight plus the holes SACKed data
// waits behind; newBulk's are 256 KiB).
func newBulkBuffers(t *testing.T, cfg tcp.Config, n, buf int) *bulk {
	cfg.SendBuffer, cfg.RecvBuffer = buf, buf
	cfg.ISN = func(*tcp.ID, tcp.Instant) tcp.Seq { return ISS }
	l := NewLink(t, &cfg, 1)
	l.Delay = 10 * time.Millisecond
	b := &bulk{t: t, l: l, data: make([]byte, n), sends: map[tcp.Seq]int{}, iss: ISS}
	r := rand.New(rand.NewPCG(uint64(n), 3))
	for i := range b.data {
		b.data[i] = byte(r.Uint32())
	}
	b.run(l.Now.Add(time.Second))
	if l.A.State() != tcp.Established || l.B == nil {
		t.Fatalf("not established: %v", l.A.State())
	}
	b.mss = uint32(l.A.Vars().SndMSS)
	return b
}
