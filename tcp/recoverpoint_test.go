package tcp_test

import (
	"math"
	"testing"
	"time"

	"github.com/sluicenet/sluice/tcp"
	. "github.com/sluicenet/sluice/tcp/tcptest"
)

// TestLossReducesWhateverISS sends 2 MiB over 100 ms of RTT with 1% of
// the data segments dropped at random, from ISSs in both halves of the
// sequence space. RFC 6582 §3.2 step 1's recovery point ("recover")
// holds no sequence number before the first episode: compared modulo
// 2^32, a zero one lay ahead of SND.UNA for half of all ISSs, every loss
// looked like part of an old episode, and RACK's repairs went out with
// no reduction at all (here a mean cwnd of 286 segments, 20 with a
// reduction per repair). Each
// repair must reduce the window (RFC 5681 §3.2, RFC 9438 §4.6), and the
// mean window must stay near what the loss rate allows (Mathis et al.:
// about 1.22/sqrt(p) = 12 segments; CUBIC somewhat more).
func TestLossReducesWhateverISS(t *testing.T) {
	for _, iss := range []tcp.Seq{0x1000_0000, 0x9000_0000, 0xc000_0000} {
		cfg := tcp.DefaultConfig()
		cfg.SendBufferMax, cfg.RecvBufferMax = 8<<20, 8<<20
		cfg.ISN = func(*tcp.ID, tcp.Instant) tcp.Seq { return iss }
		l := NewLink(t, &cfg, 2)
		l.Delay = 50 * time.Millisecond
		l.Rate = 100e6 / 8
		l.QueueLimit = 1_250_000
		l.Filter = func(toB bool, seg *tcp.Segment) (bool, time.Duration) {
			return toB && len(seg.Payload) > 0 && l.Rand.Float64() < 0.01, 0
		}
		const size = 2 << 20
		a, recv := &app{out: make([]byte, size)}, &app{}
		// The mean window over virtual time: cwnd times how long it held.
		var sum float64
		start, last, cwnd := l.Now, l.Now, uint32(0)
		for steps := 0; steps < 5_000_000 && l.Step(l.Now.Add(time.Hour)); steps++ {
			a.drive(l.A, l.Now)
			recv.drive(l.B, l.Now)
			if l.A != nil {
				sum += float64(cwnd) * float64(l.Now.Sub(last))
				last, cwnd = l.Now, l.A.Congestion().Cwnd
			}
			if len(recv.in) == size {
				break
			}
		}
		if len(recv.in) != size {
			t.Fatalf("ISS %#x: delivered %d of %d", uint32(iss), len(recv.in), size)
		}
		st, c := l.A.Stats(), l.A.Congestion()
		mss := float64(cfg.MSS)
		mean := sum / float64(l.Now.Sub(start)) / mss
		t.Logf("ISS %#x: retransmits %d, fast recoveries %d, RTOs %d, ssthresh %d, mean cwnd %.0f segments",
			uint32(iss), st.Retransmits, st.FastRetransmits, st.RTOExpiries, c.Ssthresh, mean)
		if st.Retransmits == 0 {
			t.Fatalf("ISS %#x: no loss repaired; the test lost its point", uint32(iss))
		}
		if st.FastRetransmits+st.RTOExpiries == 0 || c.Ssthresh >= 1<<30 {
			t.Errorf("ISS %#x: %d retransmissions with no reduction (fast recoveries %d, RTOs %d, ssthresh %d)",
				uint32(iss), st.Retransmits, st.FastRetransmits, st.RTOExpiries, c.Ssthresh)
		}
		if mathis := 1.22 / math.Sqrt(0.01); mean > 10*mathis {
			t.Errorf("ISS %#x: mean cwnd %.0f segments, over 10x Mathis's %.0f at 1%% loss", uint32(iss), mean, mathis)
		}
	}
}
