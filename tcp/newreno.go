package tcp

import "time"

// newReno is RFC 5681 slow start and congestion avoidance with
// byte counting (RFC 3465; in slow start without its per-ACK limit, as
// Linux) and an initial window of 10 segments (RFC 6928). The fast recovery itself (RFC 6582, RFC 6675) is
// the TCB's (recovery.go): this type only sets the window at its edges.
type newReno struct {
	cwnd, ssthresh uint32
	// bytesAcked is RFC 3465 §2.1's counter for congestion avoidance.
	bytesAcked uint32
	// priorCwnd, priorSsthresh are the values before the last reduction,
	// for Undo (RFC 3522 §3.2 restores them).
	priorCwnd, priorSsthresh uint32
}

// Slow start grows cwnd by every octet an ACK newly acknowledges, up to
// ssthresh, as Linux (tcp_slow_start; the rest of the ACK counts for
// congestion avoidance), not by at most L = 2 SMSS per ACK (RFC 3465
// §2.2). A receiver that acknowledges a burst at once sends stretch
// ACKs: Linux 6.x defers its ACKs while it works through a socket's
// backlog, so a Linux client that took a 33-segment flight in one
// backlog run acknowledged it with one ACK, and with L = 2 the window
// grew two segments per round trip instead of doubling (a download to
// a Linux client held at 48-80 kB of flight for eight 20 ms rounds).
// RFC 3465 §2.3 names the burst a larger L allows; the sender's bursts
// are the same as Linux's.

func (r *newReno) init(mss uint16) {
	*r = newReno{cwnd: initialWindow(mss), ssthresh: 1 << 30}
}

func (r *newReno) Window() uint32   { return r.cwnd }
func (r *newReno) Ssthresh() uint32 { return r.ssthresh }

func (r *newReno) OnAck(acked uint32, mss uint16, _ uint32, _ Instant, _, _ time.Duration) {
	m := uint32(mss)
	if r.cwnd < r.ssthresh {
		grow := min(acked, r.ssthresh-r.cwnd)
		r.cwnd += grow
		acked -= grow
	}
	if acked > 0 && r.cwnd >= r.ssthresh {
		// RFC 3465 §2.1: one SMSS per cwnd of octets acknowledged.
		r.bytesAcked += acked
		if r.bytesAcked >= r.cwnd {
			r.bytesAcked -= r.cwnd
			r.cwnd += m
		}
	}
	r.cwnd = min(r.cwnd, 1<<30)
}

func (r *newReno) save() { r.priorCwnd, r.priorSsthresh = r.cwnd, r.ssthresh }

// OnLoss is RFC 5681 §3.2 step 2 (eq. 4): ssthresh = max(FlightSize/2,
// 2*SMSS); RFC 6675 §5 step 4.2: cwnd = ssthresh (the recovery's pipe
// accounting replaces RFC 5681's artificial inflation).
func (r *newReno) OnLoss(mss uint16, inflight uint32, _ Instant) {
	r.save()
	r.ssthresh = max(inflight/2, 2*uint32(mss))
	r.cwnd = r.ssthresh
	r.bytesAcked = 0
}

// OnRecoveryEnd is RFC 6582 §3.2 step 3 option 1: cwnd =
// min(ssthresh, max(FlightSize, SMSS) + SMSS), so that no burst follows.
func (r *newReno) OnRecoveryEnd(mss uint16, inflight uint32, _ Instant) {
	r.cwnd = min(r.ssthresh, max(inflight, uint32(mss))+uint32(mss))
}

// OnTimeout is RFC 5681 §3.1 eq. 4 and LW = 1 SMSS.
func (r *newReno) OnTimeout(mss uint16, inflight uint32, _ Instant) {
	r.save()
	r.ssthresh = max(inflight/2, 2*uint32(mss))
	r.cwnd = uint32(mss)
	r.bytesAcked = 0
}

// OnIdle is RFC 5681 §4.1: after an idle period longer than the RTO,
// cwnd = min(RW, cwnd) with RW the initial window.
func (r *newReno) OnIdle(mss uint16, _ Instant) {
	r.cwnd = min(r.cwnd, initialWindow(mss))
}

// Undo restores the window before the last reduction (RFC 3522 §3.2,
// Linux tcp_undo_cwnd_reduction: cwnd = max(cwnd, prior), ssthresh =
// max(ssthresh, prior)).
func (r *newReno) Undo() {
	if r.priorCwnd == 0 {
		return
	}
	r.cwnd = max(r.cwnd, r.priorCwnd)
	r.ssthresh = max(r.ssthresh, r.priorSsthresh)
	r.priorCwnd = 0
}
