package tcp

import "time"

// The TCB's side of RACK-TLP (rack.go), delivery-rate sampling
// (rate.go) and pacing (pacing.go): records made as segments leave,
// delivered as ACKs and SACKs arrive, and a rate sample handed to a
// RateController (BBR) at the end of each ACK.

// sendState is that per-connection state (about 450 octets and the
// record ring), allocated when a second segment joins the flight (or at
// once for BBR): RACK judges a segment by one sent after it, so a flight
// of one segment gives it nothing to work with (the tail loss probe and
// the RTO cover it), and a connection whose flights are single segments
// (most request/response traffic) never pays for the records.
type sendState struct {
	q        txQueue
	rack     rack
	tlp      tlp
	rate     rateState
	rs       RateSample
	pace     pacer
	bbr      bbr           // the controller, when Config.CC is BBR
	ecrEnd   Instant       // of the ACK being processed (rack.delivered)
	stamp    Instant       // the latest transmit stamp given
	rtt      time.Duration // RTT sample of the ACK being processed (0: none)
	prior    uint32        // pipe before the ACK being processed
	lost     uint32        // octets it marked lost
	dsack    bool          // it carried a D-SACK
	dsackEnd Seq           // the right edge of that D-SACK block
}

// reset readies a recycled sendState for a new connection, keeping the
// record ring's memory.
func (x *sendState) reset() {
	recs := x.q.recs
	*x = sendState{}
	x.q.recs = recs
}

// sx returns the connection's sendState, taking it from the loop's
// SenderPool (Config.Senders) if need be, with what a previous flight's
// RACK kept in the TCB.
func (t *TCB) sx() *sendState {
	if t.rec.x == nil {
		x := t.cfg.Senders.get()
		x.rack.restore(&t.rackKept)
		t.rec.x = x
	}
	return t.rec.x
}

// releaseSender gives the sendState back to the loop's SenderPool once
// it holds nothing a later ACK or timer needs: the flight is wholly
// acknowledged (no record left), no recovery, RTO episode, loss probe or
// reordering timer is under way, the controller is not BBR (whose state
// lives in it) and the connection has not been paced (the pacer's
// segment count must not restart). RACK's min_RTT and reordering window
// stay in the TCB (rackKept). Without a pool the state stays with the
// TCB until it closes.
func (t *TCB) releaseSender() {
	x := t.rec.x
	if x == nil || t.cfg.Senders == nil || t.sndUna != t.sndMax || x.q.n != 0 ||
		t.rec.flags&(recIn|recPTO|recReo) != 0 || t.afterRTO() || x.tlp.out || x.pace.segs != 0 {
		return
	}
	if _, ok := t.cc.(*bbr); ok {
		return
	}
	x.rack.keep(&t.rackKept)
	t.rec.x = nil
	t.cfg.Senders.put(x)
}

// txLimit bounds the transmit records: two per full segment of the
// largest send buffer (short segments beyond it merge, rack.go).
func (t *TCB) txLimit() int {
	b := max(t.cfg.SendBuffer, t.cfg.SendBufferMax)
	return 2*b/int(max(t.sndMSS, 1)) + txQueueMin
}

// noteSent records the transmission of [seq, seq+n) at now (n counts a
// FIN), before SND.MAX moves: what lies below SND.MAX is a
// retransmission of recorded octets, the rest is new.
func (t *TCB) noteSent(seq Seq, n uint32, now Instant) {
	if n == 0 {
		return
	}
	x := t.rec.x
	if x == nil {
		if t.sndMax == t.sndUna || seq.LessThan(t.sndMax) {
			return // a single segment in flight (or resent): no records yet
		}
		// A second segment joins the flight: the records start, the one
		// in flight becoming a record sent when text last went out.
		x = t.sx()
		r := x.q.push(t.sndUna, t.sndMax.Sub(t.sndUna), t.lastSend, t.txLimit())
		x.rate.onSend(r, 0, t.lastSend)
		x.stamp = t.lastSend
	}
	// Transmit stamps strictly increase (by a nanosecond at least), so
	// RACK_sent_after orders segments sent at one instant as they were
	// sent: a retransmission after new data of the same instant is later
	// than it, which a tie broken by sequence number would invert.
	now = max(now, x.stamp+1)
	x.stamp = now
	inflight := t.sndMax.Sub(t.sndUna)
	end := seq.Add(n)
	if seq.LessThan(t.sndMax) {
		re := end
		if re.GreaterThan(t.sndMax) {
			re = t.sndMax
		}
		x.q.retransmitted(seq, re, now, func(r *txRecord) { x.rate.onSend(r, inflight, now) })
		seq = re
	}
	if seq.LessThan(end) {
		r := x.q.push(seq, end.Sub(seq), now, t.txLimit())
		x.rate.onSend(r, inflight, now)
	}
}

// ackBegin starts an ACK's processing: the echo's instant for RACK's
// ambiguity rule, and pipe before it.
func (t *TCB) ackBegin(seg *Segment, prevUna Seq, now Instant) {
	x := t.rec.x
	if x == nil {
		return
	}
	x.ecrEnd = Never
	if o := &seg.Options; t.has(flagTS) && o.HasTS && o.TSEcr != 0 {
		if back := t.tsNow(now) - o.TSEcr; int32(back) >= 0 {
			// The first instant of the echoed millisecond tick, plus one
			// tick: a transmission at or after it carried a later TSval.
			tick := Instant(time.Millisecond)
			x.ecrEnd = now/tick*tick - Instant(back)*tick + tick
		}
	}
	x.prior = t.sndMax.Sub(prevUna) - min(x.q.sacked+x.q.lost, t.sndMax.Sub(prevUna))
	x.dsack, x.dsackEnd = false, 0
	if x.rtt > 0 {
		x.rack.sampleRTT(x.rtt, now)
	}
}

// delivered takes one newly delivered record into RACK and the rate
// sample; ecrEnd is the ACK's echo instant, or Never.
func (t *TCB) delivered(r *txRecord, now, ecrEnd Instant) {
	x := t.rec.x
	x.rack.delivered(r, now, ecrEnd)
	x.rate.onDelivered(r, now)
}

// recordsAcked takes a cumulative ACK to una into the records.
func (t *TCB) recordsAcked(una Seq, now Instant) {
	if x := t.rec.x; x != nil {
		x.q.ackTo(una, func(r *txRecord) { t.delivered(r, now, x.ecrEnd) })
	}
}

// recordsSACKed takes a SACK block [l, r) into the records. The echo
// is not used: for out-of-order data a receiver echoes the TSval of the
// last in-order segment (RFC 7323 §4.3), older than any retransmission,
// so RFC 8985 §6.2's echo test would refuse every SACKed retransmission;
// Linux (tcp_rack_advance) applies only the min_RTT test, as here.
func (t *TCB) recordsSACKed(l, r Seq, now Instant) {
	if x := t.rec.x; x != nil {
		x.q.sack(l, r, func(rec *txRecord) { t.delivered(rec, now, Never) })
	}
}

// rateSample ends an ACK's processing: the rate sample (draft-cheng
// GenerateRateSample) goes to a RateController.
func (t *TCB) rateSample(now Instant) {
	x := t.rec.x
	if x == nil {
		return
	}
	x.rate.sample(&x.rs, x.rack.minRTTOr(0))
	if rc := t.rateCC(); rc != nil && (x.rs.Acked > 0 || x.lost > 0) {
		rs := &x.rs
		rs.Lost, rs.InFlight, rs.PriorInFlight = x.lost, t.pipe(), x.prior
		rs.RTT, rs.SRTT, rs.MSS = x.rtt, t.srtt, t.sndMSS
		rc.OnRateSample(rs, now)
	}
	x.rtt, x.lost = 0, 0
	if b, ok := t.cc.(*bbr); ok {
		b.beyondPipe = t.beyondPipe()
	}
}

// beyondPipe is the octets of the flight that pipe leaves out (SACKed,
// or lost and not resent), when the send test is the flight's: outside
// recovery, an RTO episode and go-back-N (bbr.Window).
func (t *TCB) beyondPipe() uint32 {
	if !t.has(flagSACK) || t.inRecovery() || t.afterRTO() || t.sndNxt != t.sndMax {
		return 0
	}
	flight := t.sndMax.Sub(t.sndUna)
	return flight - min(t.pipe(), flight)
}

// cwnd is the congestion window itself, for the TCB's tests of pipe
// against it (Window may add beyondPipe for the flight test).
func (t *TCB) cwnd() uint32 {
	if b, ok := t.cc.(*bbr); ok {
		return b.cwnd
	}
	return t.cc.Window()
}

// checkAppLimited is the draft's CheckIfApplicationLimited, when the
// sender ran out of queued data: the flight is below cwnd and nothing
// lost awaits retransmission, so the rate samples of what is sent now
// measure the application, not the path.
func (t *TCB) checkAppLimited() {
	x := t.rec.x
	if x == nil {
		return
	}
	if p := t.pipe(); p < t.cwnd() && x.q.lost == 0 {
		x.rate.markAppLimited(p)
	}
}

// rackDetect runs RACK's loss detection (RFC 8985 §6.2 step 5) with the
// reordering window of step 4 and arms the reordering timer (§6.3) when
// a segment is not yet overdue.
func (t *TCB) rackDetect(now Instant) {
	x := t.rec.x
	if x == nil {
		return
	}
	inRec := t.inRecovery() || t.afterRTO()
	reo := x.rack.reoWnd(inRec, x.q.sacked/uint32(t.sndMSS), uint32(max(t.rec.reordering, dupThreshSegs)), t.srtt)
	before, rb := x.q.lost, x.rack.lostRetrans
	_, to := x.rack.detectLoss(&x.q, reo, now)
	if x.q.lost > before {
		x.lost += x.q.lost - before
	}
	if n := x.rack.lostRetrans - rb; n > 0 {
		t.count().LostRetransmits += uint64(n)
	}
	if to > 0 {
		at := now.Add(to)
		if t.rec.flags&recReo == 0 || at < t.rtoAt {
			t.rtoAt = min(at, t.rtoAt)
			t.rec.flags = t.rec.flags&^recPTO | recReo
		}
	}
}

// rackLost reports segments RACK marked lost and not yet resent.
func (t *TCB) rackLost() bool { return t.rec.x != nil && t.rec.x.q.lost > 0 }

// afterRTO reports an RTO episode whose recovery point is not yet
// acknowledged (Linux's Loss state).
func (t *TCB) afterRTO() bool {
	return t.rec.flags&recRTOEp != 0 && t.recoverAhead()
}

// reoTimeout is the RACK reordering timer's expiry (RFC 8985 §6.3):
// detect again, recover what is now overdue, and go back to the RTO.
func (t *TCB) reoTimeout(now Instant) {
	t.rec.flags &^= recReo
	t.rackDetect(now)
	if t.rackLost() {
		if t.inRecovery() || t.afterRTO() {
			t.recoverySend(now)
		} else {
			t.enterRecovery(now)
		}
	}
	if t.rec.flags&recReo == 0 && t.sndMax != t.sndUna {
		t.armLossTimer(now, false)
	}
}
