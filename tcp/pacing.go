package tcp

import "time"

// Pacing: each segment gets an earliest departure time (EDT, as Linux
// since 4.20: tcp_wstamp_ns), the previous one's plus its length at the
// pacing rate. The engine reads no clock and arms no timer of its own:
// a TCB that holds a segment back for pacing sets its persist timer to
// the instant it may go (persistAt: both mean "try to send then", and
// they are never wanted together: persist needs a zero window, pacing an
// open one; persistTimeout with an open window just sends), so Deadline
// reports it and the loop's timer wheel (1 ms ticks, one entry per
// connection, sched/timers.go) calls OnTimer then, as for any other TCB
// timer. So the wheel does not fire per segment: at each release the
// TCB sends every segment whose EDT falls within paceHorizon of now, a
// batch of about 1 ms of data at the pacing rate (Linux's TSO
// autosizing sizes its bursts the same way: pacing rate >> 10, ~1 ms).
// A release that comes late (the wheel fires up to a tick late) keeps
// up to paceHorizon of credit, so the late tick does not lower the rate.
//
// Rates: BBR sets its own (RateController.PacingRate). For the window
// controllers pacing is optional (Linux paces them only under the fq
// qdisc or SO_MAX_PACING_RATE) and the rate is Linux's
// tcp_update_pacing_rate: cwnd (or the flight, if larger) per SRTT,
// times 2 while cwnd is below half of ssthresh (slow start: the window
// doubles within the round) and 1.2 after.

// paceHorizon is the release batch: one timer-wheel tick.
const paceHorizon = time.Millisecond

// paceUnpacedSegs is how many segments a connection sends before pacing
// starts (Linux: data_segs_out >= 10; the initial window goes at once).
const paceUnpacedSegs = 10

// pacer holds a connection's earliest departure time.
type pacer struct {
	next Instant // EDT of the next segment
	segs uint8   // segments sent, up to paceUnpacedSegs
}

// ready reports whether a segment may leave at now: its EDT falls in
// the current release batch.
func (p *pacer) ready(now Instant) bool { return p.next <= now.Add(paceHorizon) }

// wake is when the owner must call back to release the next batch
// (valid when !ready).
func (p *pacer) wake() Instant { return p.next.Add(-paceHorizon) }

// sent moves the EDT past a segment of n octets sent at now at rate
// octets per second (0: unpaced).
func (p *pacer) sent(n uint32, rate uint64, now Instant) {
	if p.segs < paceUnpacedSegs {
		p.segs++
		return
	}
	if rate == 0 {
		return
	}
	// A sender behind its schedule (idle, or a late release) keeps at
	// most one batch of credit.
	p.next = max(p.next, now.Add(-paceHorizon)).Add(time.Duration(uint64(n) * uint64(time.Second) / rate))
}

// windowPacingRate is Linux's tcp_update_pacing_rate for a window-based
// controller, in octets per second (0 without an SRTT).
func windowPacingRate(cwnd, ssthresh, inflight uint32, srtt time.Duration) uint64 {
	if srtt <= 0 {
		return 0
	}
	ratio := uint64(120) // tcp_pacing_ca_ratio
	if cwnd < ssthresh/2 {
		ratio = 200 // tcp_pacing_ss_ratio
	}
	w := uint64(max(cwnd, inflight))
	return w * uint64(time.Second) / uint64(srtt) * ratio / 100
}

// pacingRate is the rate the TCB paces at, octets per second (0: not
// paced): a RateController's own (BBR), else the window's when
// Config.Pacing asks for it.
func (t *TCB) pacingRate() uint64 {
	if rc := t.rateCC(); rc != nil {
		return rc.PacingRate()
	}
	if t.cfg.Pacing && t.has(flagRTT) {
		return windowPacingRate(t.cc.Window(), t.cc.Ssthresh(), t.pipe(), t.srtt)
	}
	return 0
}
