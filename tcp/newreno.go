package tcp

import "time"

// newReno is RFC 5681 slow start and congestion avoidance with
// appropriate byte counting (RFC 3465) and an initial window of 10
// segments (RFC 6928). The fast recovery itself (RFC 6582, RFC 6675) is
// the TCB's (recovery.go): this type only sets the window at its edges.
type newReno struct {
	cwnd, ssthresh uint32
	// bytesAcked is RFC 3465 §2.1's counter for congestion avoidance.
	bytesAcked uint32
	// priorCwnd, priorSsthresh are the values before the last reduction,
	// for Undo (RFC 3522 §3.2 restores them).
	priorCwnd, priorSsthresh uint32
}

// abcL is RFC 3465 §2.2's limit L: slow start grows cwnd by at most
// L*SMSS per ACK (2, the RFC's recommendation, so that delayed ACKs do
// not halve the growth).
const abcL = 2

func (r *newReno) init(mss uint16) {
	*r = newReno{cwnd: initialWindow(mss), ssthresh: 1 << 30}
}

func (r *newReno) Window() uint32   { return r.cwnd }
func (r *newReno) Ssthresh() uint32 { return r.ssthresh }

func (r *newReno) OnAck(acked uint32, mss uint16, _ uint32, _ Instant, _, _ time.Duration) {
	m := uint32(mss)
	if r.cwnd < r.ssthresh {
		// RFC 3465 §2.2 / RFC 5681 §3.1 eq. 2.
		r.cwnd += min(acked, abcL*m)
	} else {
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
