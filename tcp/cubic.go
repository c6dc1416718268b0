package tcp

import (
	"math"
	"time"
)

// cubic is CUBIC (RFC 9438), Linux's default controller. Slow start
// (byte counting) and the timeout and idle responses are newReno's; congestion
// avoidance follows the cubic window W_cubic(t) = C*(t-K)^3 + W_max
// (§4.2) with the Reno-friendly estimate W_est (§4.3) and fast
// convergence (§4.7). Windows are computed in segments (float64, as the
// RFC writes them) and kept in octets.
type cubic struct {
	reno newReno // the octet windows; also the NewReno controller itself

	// hs leaves slow start on a lasting RTT rise (HyStart++, hystart.go);
	// beside reno, so that neither is padded.
	hs hystartPP

	// float32 is ample for a window in segments and K in seconds (Linux
	// keeps them in 32-bit integers); the arithmetic is float64.
	wMax, wLastMax float32 // segments (§4.2, §4.7)
	k              float32 // seconds (§4.2 eq. 2)
	// For Undo: the cubic state before the last reduction.
	priorWMax, priorWLastMax float32

	// wEst grows by alpha*segments/cwnd per ACK, too little for a
	// float32's 24 bits at a large window.
	wEst  float64 // segments (§4.3)
	epoch Instant // start of the current congestion-avoidance epoch; 0 = none
}

// RFC 9438 §4.6 (beta_cubic) and §5 (C).
const (
	cubicBeta = 0.7
	cubicC    = 0.4
	// §4.3: alpha_cubic = 3*(1-beta)/(1+beta).
	cubicAlpha = 3 * (1 - cubicBeta) / (1 + cubicBeta)
)

func (c *cubic) init(mss uint16) {
	*c = cubic{}
	c.reno.init(mss)
}

func (c *cubic) Window() uint32   { return c.reno.cwnd }
func (c *cubic) Ssthresh() uint32 { return c.reno.ssthresh }

func (c *cubic) OnAck(acked uint32, mss uint16, inflight uint32, now Instant, srtt, sample time.Duration) {
	r := &c.reno
	if r.cwnd < r.ssthresh {
		div, exit := c.hs.onAck(acked, inflight, sample)
		before := r.cwnd
		r.OnAck(acked, mss, inflight, now, srtt, sample)
		if div > 1 {
			r.cwnd = before + (r.cwnd-before)/div // RFC 9406 §4.2: CSS growth
		}
		if exit {
			r.ssthresh = r.cwnd
		}
		return
	}
	m := float64(mss)
	cwnd := float64(r.cwnd) / m
	if c.epoch == 0 {
		// §4.2: a new congestion-avoidance epoch. With no loss seen yet
		// (W_max unset) the curve starts at the current window.
		c.epoch = now
		if float64(c.wMax) < cwnd {
			c.wMax = float32(cwnd)
			c.k = 0
		} else {
			c.k = float32(math.Cbrt((float64(c.wMax) - cwnd) / cubicC))
		}
		c.wEst = cwnd
	}
	wMax := float64(c.wMax)
	t := now.Sub(c.epoch).Seconds()
	rtt := srtt.Seconds()
	// §4.2 eq. 1 at t + RTT, the window one RTT ahead.
	d := t + rtt - float64(c.k)
	target := cubicC*d*d*d + wMax
	// §4.2: the target is bounded to [cwnd, 1.5*cwnd].
	target = min(max(target, cwnd), 1.5*cwnd)
	seg := float64(acked) / m
	// §4.3: W_est += alpha * segments_acked / cwnd (alpha becomes 1 once
	// W_est reaches W_max).
	alpha := cubicAlpha
	if c.wEst >= wMax {
		alpha = 1
	}
	c.wEst += alpha * seg / cwnd
	var next float64
	if c.wEst > target {
		next = cwnd + (c.wEst-cwnd)*seg/cwnd // Reno-friendly region (§4.3)
		next = max(next, cwnd)
	} else {
		next = cwnd + (target-cwnd)*seg/cwnd // concave / convex regions (§4.4, §4.5)
	}
	r.cwnd = min(uint32(next*m), 1<<30)
}

func (c *cubic) save() {
	c.reno.save()
	c.priorWMax, c.priorWLastMax = c.wMax, c.wLastMax
}

// reduce is §4.6 with fast convergence (§4.7).
func (c *cubic) reduce(mss uint16) {
	m := float64(mss)
	cwnd := float64(c.reno.cwnd) / m
	if cwnd < float64(c.wLastMax) {
		c.wMax = float32(cwnd * (1 + cubicBeta) / 2)
	} else {
		c.wMax = float32(cwnd)
	}
	c.wLastMax = float32(cwnd)
	c.reno.ssthresh = max(uint32(cwnd*cubicBeta*m), 2*uint32(mss))
	c.epoch = 0
	c.hs.reset() // the next slow start (after an RTO) runs HyStart++ afresh
	c.reno.bytesAcked = 0
}

// OnLoss is §4.6: ssthresh = cwnd*beta_cubic; cwnd = ssthresh.
func (c *cubic) OnLoss(mss uint16, _ uint32, _ Instant) {
	c.save()
	c.reduce(mss)
	c.reno.cwnd = c.reno.ssthresh
}

func (c *cubic) OnRecoveryEnd(mss uint16, inflight uint32, now Instant) {
	c.reno.OnRecoveryEnd(mss, inflight, now)
}

// OnTimeout is §4.8: the reduction of §4.6, then cwnd = 1 SMSS and slow
// start (RFC 5681).
func (c *cubic) OnTimeout(mss uint16, _ uint32, _ Instant) {
	c.save()
	c.reduce(mss)
	c.reno.cwnd = uint32(mss)
}

// OnIdle restarts the window (RFC 5681 §4.1) and the epoch: RFC 9438
// §5.8 warns that t must not count the idle time, or cwnd would jump.
func (c *cubic) OnIdle(mss uint16, now Instant) {
	c.reno.OnIdle(mss, now)
	c.epoch = 0
}

// onTxStart is Linux's bictcp_cwnd_event(CA_EVENT_TX_START) (commit
// 30927520dbae, "tcp_cubic: better follow cubic curve after idle
// period"): text goes out with nothing in flight, idle since text last
// went out (less than an RTO: a longer idle restarts, OnIdle). The
// epoch moves forward by that time, at most to now, so that W_cubic(t)
// resumes where the curve stood instead of where wall time would put it
// (RFC 9438 §5.8: t must not include the periods in which the flow was
// application-limited, such as idle ones). Unshifted, an idle stretch
// just under the RTO adds its length to t at every resumption, and the
// target reaches its 1.5*cwnd bound (§4.2): cwnd grows by half in one
// round trip. As Linux, the time counted is from the last send, so the
// round trip in which the last flight drained is skipped too (the curve
// stands still rather than run ahead). Only with nothing in flight, as
// Linux: an application-limited sender with text in flight keeps an
// ACK clock, and its window does not grow meanwhile (cwndLimited).
func (c *cubic) onTxStart(idle time.Duration, now Instant) {
	if c.epoch == 0 || idle <= 0 {
		return // no epoch yet (slow start, or just reduced)
	}
	c.epoch = min(c.epoch.Add(idle), now)
}

func (c *cubic) Undo() {
	if c.reno.priorCwnd == 0 {
		return
	}
	c.reno.Undo()
	c.wMax, c.wLastMax = c.priorWMax, c.priorWLastMax
	c.epoch = 0
}
