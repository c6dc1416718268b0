package tcp

import (
	"math"
	"testing"
	"time"
)

// Slow start grows by every octet an ACK covers, a stretch ACK's too
// (Linux tcp_slow_start), up to ssthresh; RFC 3465 §2.1: congestion
// avoidance grows one SMSS per cwnd of octets acknowledged.
func TestNewRenoABC(t *testing.T) {
	var r newReno
	r.init(1000)
	if r.cwnd != 10000 {
		t.Fatalf("IW %d, want 10 segments (RFC 6928)", r.cwnd)
	}
	r.OnAck(5000, 1000, 0, 0, 0, 0) // a stretch ACK of 5 segments
	if r.cwnd != 15000 {
		t.Fatalf("slow start cwnd %d after a 5-segment ACK, want +5 SMSS", r.cwnd)
	}
	r.ssthresh = 17000
	r.OnAck(5000, 1000, 0, 0, 0, 0) // 2 segments to ssthresh, 3 count for CA
	if r.cwnd != 17000 || r.bytesAcked != 3000 {
		t.Fatalf("cwnd %d, CA count %d after crossing ssthresh, want 17000 and 3000", r.cwnd, r.bytesAcked)
	}
	r.ssthresh, r.cwnd, r.bytesAcked = 12000, 12000, 0
	for range 11 {
		r.OnAck(1000, 1000, 0, 0, 0, 0)
	}
	if r.cwnd != 12000 {
		t.Fatalf("CA cwnd %d before a full window was acknowledged", r.cwnd)
	}
	r.OnAck(1000, 1000, 0, 0, 0, 0)
	if r.cwnd != 13000 {
		t.Fatalf("CA cwnd %d after a window of octets, want +1 SMSS", r.cwnd)
	}
}

// RFC 5681 §3.2 eq. 4, RFC 6582 §3.2 step 3, RFC 5681 §3.1 and §4.1, and
// RFC 3522's undo, for NewReno.
func TestNewRenoResponses(t *testing.T) {
	var r newReno
	r.init(1000)
	r.cwnd = 40000
	r.OnLoss(1000, 30000, 0)
	if r.ssthresh != 15000 || r.cwnd != 15000 {
		t.Fatalf("loss: ssthresh %d cwnd %d, want FlightSize/2", r.ssthresh, r.cwnd)
	}
	r.OnRecoveryEnd(1000, 5000, 0)
	if r.cwnd != 6000 {
		t.Fatalf("recovery end cwnd %d, want min(ssthresh, FlightSize+SMSS)", r.cwnd)
	}
	r.Undo()
	if r.cwnd != 40000 || r.ssthresh != 1<<30 {
		t.Fatalf("undo: cwnd %d ssthresh %d", r.cwnd, r.ssthresh)
	}
	r.OnTimeout(1000, 1000, 0)
	if r.cwnd != 1000 || r.ssthresh != 2000 {
		t.Fatalf("timeout: cwnd %d ssthresh %d, want 1 SMSS and 2 SMSS", r.cwnd, r.ssthresh)
	}
	r.cwnd = 50000
	r.OnIdle(1000, 0)
	if r.cwnd != 10000 {
		t.Fatalf("after idle cwnd %d, want the initial window", r.cwnd)
	}
}

// RFC 9438 §4.6: on loss cwnd = 0.7*cwnd; §4.2: the window then follows
// W_cubic(t) = C*(t-K)^3 + W_max, reaching W_max after K seconds (eq. 2)
// and growing beyond it (convex region); §4.7 fast convergence lowers
// W_max when losses come below the last maximum.
func TestCUBICCurve(t *testing.T) {
	const mss = 1000
	var c cubic
	c.init(mss)
	c.reno.cwnd = 100 * mss
	c.OnLoss(mss, 100*mss, 0)
	if c.reno.cwnd != 70*mss || c.reno.ssthresh != 70*mss {
		t.Fatalf("after loss cwnd %d ssthresh %d, want 70 segments", c.reno.cwnd, c.reno.ssthresh)
	}
	k := math.Cbrt(100 * (1 - cubicBeta) / cubicC) // §4.2 eq. 2: ~4.2 s
	rtt := 100 * time.Millisecond
	now := Instant(1e9)
	// ACK a window per RTT for K seconds.
	var atK uint32
	for now < Instant(1e9)+Instant(k*1e9) {
		w := c.reno.cwnd
		for range w / mss {
			c.OnAck(mss, mss, w, now, rtt, 0)
		}
		now = now.Add(rtt)
		atK = c.reno.cwnd
	}
	if atK < 97*mss || atK > 103*mss {
		t.Fatalf("cwnd %d segments at t=K=%.2fs, want about W_max=100", atK/mss, k)
	}
	for range 30 { // three more seconds: convex growth past W_max
		w := c.reno.cwnd
		for range w / mss {
			c.OnAck(mss, mss, w, now, rtt, 0)
		}
		now = now.Add(rtt)
	}
	if c.reno.cwnd < 110*mss {
		t.Fatalf("cwnd %d segments 3 s after K, want convex growth beyond W_max", c.reno.cwnd/mss)
	}
	// Fast convergence: a loss below the previous W_max.
	c.reno.cwnd = 90 * mss
	c.wLastMax = 100
	c.OnLoss(mss, 90*mss, now)
	if want := 90 * (1 + cubicBeta) / 2; math.Abs(float64(c.wMax)-want) > 1e-4 { // float32 state
		t.Fatalf("W_max %.2f, want %.2f (fast convergence)", c.wMax, want)
	}
	c.Undo()
	if c.reno.cwnd != 90*mss || c.wMax < 100 {
		t.Fatalf("undo: cwnd %d W_max %.1f", c.reno.cwnd, c.wMax)
	}
}

// RFC 9438 §4.3: with a short RTT the Reno-friendly estimate dominates
// the cubic curve, so CUBIC grows at least as fast as AIMD would.
func TestCUBICRenoFriendly(t *testing.T) {
	const mss = 1000
	var c cubic
	c.init(mss)
	c.reno.cwnd = 20 * mss
	c.OnLoss(mss, 20*mss, 0)
	now := Instant(1e9)
	rtt := time.Millisecond
	start := c.reno.cwnd
	for range 100 { // 100 RTTs = 0.1 s: the cubic term barely moves
		w := c.reno.cwnd
		for range w / mss {
			c.OnAck(mss, mss, w, now, rtt, 0)
		}
		now = now.Add(rtt)
	}
	// AIMD with alpha_cubic ~0.53 segments per RTT: ~53 segments gained.
	if got := (c.reno.cwnd - start) / mss; got < 40 {
		t.Fatalf("gained %d segments in 100 RTTs, want the Reno-friendly ~53", got)
	}
}

// Config.CC chooses the built-in controller.
func TestCCSelection(t *testing.T) {
	cfg := DefaultConfig()
	tcb := newTCB(&cfg, fuzzID, &nopSink{})
	if _, ok := tcb.cc.(*cubic); !ok {
		t.Fatalf("default controller %T, want CUBIC", tcb.cc)
	}
	cfg.CC = NewReno
	tcb = newTCB(&cfg, fuzzID, &nopSink{})
	if _, ok := tcb.cc.(*newReno); !ok {
		t.Fatalf("controller %T, want NewReno", tcb.cc)
	}
	if NewReno.String() != "newreno" || CUBIC.String() != "cubic" {
		t.Fatal("names")
	}
}

// HyStart++ in CUBIC (RFC 9406, hystart.go): a flat RTT keeps slow
// start; a lasting rise of more than clamp(min/8, 4 ms, 16 ms) enters
// CSS (growth divided by 4) and, CSS_ROUNDS rounds later, ends slow
// start (ssthresh = cwnd) before the queue overflows.
func TestCUBICHyStart(t *testing.T) {
	const mss = 1000
	var c cubic
	c.init(mss)
	now := Instant(1e9)
	srtt := 20 * time.Millisecond
	// round acknowledges one window, one segment per ACK; the flight
	// after each ACK is the rest of the window plus what slow start sent.
	round := func(rtt time.Duration) (growth uint32) {
		w := c.reno.cwnd / mss
		before := c.reno.cwnd
		for i := range w {
			c.OnAck(mss, mss, (w-i-1)*mss+2*(i+1)*mss, now, srtt, rtt)
			now = now.Add(time.Millisecond)
		}
		return c.reno.cwnd - before
	}
	round(20 * time.Millisecond)
	round(20 * time.Millisecond)
	if c.reno.ssthresh != 1<<30 {
		t.Fatalf("slow start ended at a flat RTT (ssthresh %d)", c.reno.ssthresh)
	}
	round(25 * time.Millisecond) // +5 ms > max(20/8, 4) ms
	if !c.hs.inCSS() {
		t.Fatal("a 5 ms rise did not enter CSS")
	}
	w := c.reno.cwnd
	if g := round(25 * time.Millisecond); g > w/4+mss {
		t.Fatalf("CSS grew a %d-octet cwnd by %d in a round: want a quarter of slow start's doubling", w, g)
	}
	for range hsCSSRounds {
		if c.reno.ssthresh < 1<<30 {
			break
		}
		round(25 * time.Millisecond)
	}
	if c.reno.ssthresh >= 1<<30 || c.reno.cwnd > c.reno.ssthresh+mss {
		t.Fatalf("ssthresh %d cwnd %d: slow start did not end after CSS", c.reno.ssthresh, c.reno.cwnd)
	}
}
