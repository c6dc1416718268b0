package tcp_test

import (
	"testing"
	"time"

	"github.com/sluicenet/sluice/tcp"
	. "github.com/sluicenet/sluice/tcp/tcptest"
)

// BenchmarkLossyTransfer moves 8 MiB one way over the in-memory link at
// 100 Mbit/s with 10 ms each way (a 250 KB BDP, a one-BDP drop-tail
// queue) and 1% random loss, per controller and with SACK on or off, and
// reports the goodput on the virtual clock (virt-Mbit/s: what the
// algorithms achieve on that path, not the engine's speed, which ns/op
// measures). Buffers auto-tune up to 4 MiB.
func BenchmarkLossyTransfer(b *testing.B) {
	for _, c := range []struct {
		name string
		cc   tcp.Algorithm
		sack bool
		drop float64
	}{
		{"cubic-sack-0%", tcp.CUBIC, true, 0},
		{"cubic-sack-1%", tcp.CUBIC, true, 0.01},
		{"newreno-sack-1%", tcp.NewReno, true, 0.01},
		{"cubic-nosack-1%", tcp.CUBIC, false, 0.01},
		{"newreno-nosack-1%", tcp.NewReno, false, 0.01},
	} {
		b.Run(c.name, func(b *testing.B) {
			var mbps, retrans, rtos float64
			n := 0
			for b.Loop() {
				n++
				m, st := lossyTransfer(b, c.cc, c.sack, c.drop, uint64(n))
				mbps += m
				retrans += float64(st.Retransmits)
				rtos += float64(st.RTOExpiries)
			}
			b.ReportMetric(mbps/float64(n), "virt-Mbit/s")
			b.ReportMetric(retrans/float64(n), "retrans/op")
			b.ReportMetric(rtos/float64(n), "RTOs/op")
		})
	}
}

func lossyTransfer(b *testing.B, cc tcp.Algorithm, sack bool, drop float64, seed uint64) (float64, tcp.Stats) {
	cfg := tcp.DefaultConfig()
	cfg.CC, cfg.SACK = cc, sack
	cfg.SendBufferMax, cfg.RecvBufferMax = 4<<20, 4<<20
	l := NewLink(b, &cfg, seed)
	l.Delay = 10 * time.Millisecond
	l.Rate = 100e6 / 8
	l.QueueLimit = 250_000
	l.Drop = drop
	const size = 8 << 20
	out := make([]byte, size)
	a, recv := &app{out: out}, &app{}
	start := l.Now
	for steps := 0; steps < 20_000_000 && l.Step(l.Now.Add(time.Hour)); steps++ {
		a.drive(l.A, l.Now)
		recv.drive(l.B, l.Now)
		if len(recv.in) == size {
			break
		}
	}
	if len(recv.in) != size {
		b.Fatalf("delivered %d of %d", len(recv.in), size)
	}
	return float64(size) * 8 / l.Now.Sub(start).Seconds() / 1e6, *l.A.Stats()
}
