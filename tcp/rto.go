package tcp

import "time"

// Retransmission timeout per RFC 6298: SRTT/RTTVAR from samples taken by
// Karn's rule, RTO = SRTT + max(4*RTTVAR, MinRTO) bounded by MaxRTO,
// doubled on each expiry (§5.5), and a bounded number of tries
// (RFC 9293 §3.8.3 R2) before the connection fails with ErrTimeout.

// armRTO starts the retransmission timer if it is not running.
func (t *TCB) armRTO(now Instant) {
	if t.rtoAt == Never {
		t.rtoAt = now.Add(t.rto)
	}
}

// sampleRTT takes an RTT measurement if ack covers the timed segment,
// and returns it (0: none).
func (t *TCB) sampleRTT(ack Seq, now Instant) time.Duration {
	if t.rttAt == Never || ack.LessThan(t.rttSeq) {
		return 0
	}
	r := now.Sub(t.rttAt)
	t.rttAt = Never
	t.updateRTT(r)
	return r
}

// sampleTS takes an RTT measurement from the echoed timestamp of an ACK
// that acknowledges new data (RFC 7323 §4.1 RTTM, as Linux does). It is
// valid for retransmitted segments too (the echo names the transmission),
// so after a timeout the backed-off RTO recovers with the first ACK. It
// returns the sample (0: none).
func (t *TCB) sampleTS(seg *Segment, now Instant) time.Duration {
	if !t.has(flagTS) || !seg.Options.HasTS || seg.Options.TSEcr == 0 {
		return 0
	}
	d := t.tsNow(now) - seg.Options.TSEcr
	if int32(d) < 0 || d > uint32(t.cfg.MaxRTO/time.Millisecond) {
		return 0
	}
	if t.rec.rtoTS != 0 && int32(seg.Options.TSEcr-t.rec.rtoTS) < 0 {
		// The echo predates the last timeout: it names a transmission
		// from before the go-back (an ACK of an original whose ACKs were
		// lost, or the stale TS.Recent a receiver echoes for a duplicate,
		// RFC 7323 §5.3 R2), and the sample would count our RTO wait as
		// path delay and inflate the RTO after every timeout. Skip it,
		// as Karn's rule skips ambiguous samples (RFC 6298 §3).
		return 0
	}
	t.rttAt = Never
	r := max(time.Duration(d)*time.Millisecond, time.Millisecond/2)
	t.updateRTT(r)
	return r
}

// updateRTT folds a measurement r into SRTT/RTTVAR and recomputes RTO.
func (t *TCB) updateRTT(r time.Duration) {
	if x := t.rec.x; x != nil {
		x.rtt = r
	}
	if !t.has(flagRTT) {
		// §2.2: first measurement.
		t.flags |= flagRTT
		t.srtt, t.rttvar = r, r/2
	} else {
		// §2.3 with alpha = 1/8, beta = 1/4.
		d := t.srtt - r
		if d < 0 {
			d = -d
		}
		t.rttvar = (3*t.rttvar + d) / 4
		t.srtt = (7*t.srtt + r) / 8
	}
	// The variance term has MinRTO as its floor (Linux tcp_rtt_estimator:
	// rttvar >= rto_min), not the RTO as a whole: per-ACK timestamp
	// samples make RTTVAR collapse on a steady path, and an RTO of SRTT
	// plus a few ms fires spuriously on a long one (issue 14 item 7).
	t.rto = min(t.srtt+max(4*t.rttvar, t.cfg.MinRTO), t.cfg.MaxRTO)
}

// backoff doubles the RTO (§5.5), bounded by MaxRTO.
func (t *TCB) backoff() { t.rto = min(2*t.rto, t.cfg.MaxRTO) }

// retransmitTimeout handles expiry of the retransmission timer (§5.4-5.7).
func (t *TCB) retransmitTimeout(now Instant) {
	if t.rec.flags&recReo != 0 {
		t.reoTimeout(now)
		return
	}
	t.rttAt = Never // Karn: no sample from a retransmitted segment
	switch t.state {
	case SynSent:
		if int(t.retries) >= t.cfg.SynRetries {
			t.closeWith(ErrTimeout)
			return
		}
		t.retries++
		t.backoff()
		t.sendSYN(now, false)
		t.rtoAt = now.Add(t.rto)
		return
	case SynReceived:
		if int(t.retries) >= t.cfg.SynAckRetries {
			if t.has(flagPassive) && t.l == nil {
				t.backToListen()
			} else {
				t.closeWith(ErrTimeout)
			}
			return
		}
		t.retries++
		t.backoff()
		t.sendSYN(now, true)
		t.rtoAt = now.Add(t.rto)
		return
	case Established, CloseWait, FinWait1, Closing, LastAck:
	default:
		return
	}
	if t.sndUna == t.sndMax {
		return
	}
	// RFC 5681 §3.1: ssthresh is set by the first timeout of a segment,
	// not again when it times out again with nothing acknowledged in
	// between (Linux tcp_enter_loss: not in CA_Loss with retransmits);
	// recomputing it from the one-segment window would collapse it to
	// 2 SMSS and spoil the undo (issue 14 item 6).
	again := t.retries > 0 && t.afterRTO()
	if t.sndWnd == 0 && !t.has(flagOrphan) && t.sndUna != t.iss {
		// The peer shrank its window to zero under text in flight: our
		// retransmissions are in effect zero-window probes, and a peer
		// that keeps answering must not be timed out (Linux
		// tcp_retransmit_timer, "receiver dastardly shrinks window");
		// only MaxRTO of silence ends the connection.
		if time.Duration(msClock(now)-t.lastRecvMs)*time.Millisecond > t.cfg.MaxRTO {
			t.closeWith(ErrTimeout)
			return
		}
	} else {
		if int(t.retries) >= t.cfg.DataRetries {
			t.closeWith(ErrTimeout)
			return
		}
		t.retries++
	}
	t.backoff()
	// RFC 6675 §5.1 / RFC 6582 §3.2: a timeout ends fast recovery;
	// recover = SND.MAX keeps the go-back-N's duplicate ACKs from
	// starting another. The reduction may be undone if Eifel shows it
	// spurious.
	t.count().RTOExpiries++
	if t.has(flagTS) {
		t.rec.rtoTS = max(t.tsNow(now), 1)
	}
	t.rec.flags &^= recIn
	t.rec.dupAcks = 0
	if !again {
		t.beginEpisode(true)
		t.cc.OnTimeout(t.sndMSS, t.sndMax.Sub(t.sndUna), now)
	}
	if t.sb.n > 0 && t.sb.slots()[0].l.LessEq(t.sndUna) {
		// The peer SACKed the octet at SND.UNA yet did not acknowledge
		// it: it reneged (or a middlebox mangles SACK). RFC 2018 §8:
		// after a timeout retransmit from SND.UNA whatever the SACK
		// state says; Linux (tcp_timeout_mark_lost) forgets the SACKed
		// ranges then. Skipping them, go-back-N sent nothing until
		// ErrTimeout (issue 14 item 4).
		t.sb.reset()
		t.putRanges(&t.sb.s)
		if x := t.rec.x; x != nil {
			x.q.renege()
		}
		t.count().SACKReneging++
	}
	if x := t.rec.x; x != nil {
		x.rack.onRTO(&x.q, now)
	}
	if t.sndUna == t.iss {
		// Closed in SYN-RECEIVED before the handshake finished: the
		// SYN,ACK is what is outstanding.
		t.sendSYN(now, true)
		t.rtoAt = now.Add(t.rto)
		return
	}
	// Go back to SND.UNA and send again what the window allows (with
	// cwnd at one segment after a timeout, that is one segment).
	t.sndNxt = t.sndUna
	t.rtoAt = Never
	t.trySend(now)
	if t.sndNxt == t.sndUna {
		// Nothing could be sent (zero window): retransmit one segment
		// anyway, the timer must make progress.
		t.retransmitOne(now)
	}
	if t.rtoAt == Never {
		t.rtoAt = now.Add(t.rto)
	}
}

// retransmitOne resends the first unacknowledged segment regardless of
// the windows.
func (t *TCB) retransmitOne(now Instant) {
	dataEnd := t.sndBufSeq.Add(uint32(t.snd.n))
	if t.sndUna.LessThan(dataEnd) && t.sndUna.LessThan(t.sndMax) {
		// Only what was sent before: never new text beyond the window.
		n := min(dataEnd.Sub(t.sndUna), t.sndMax.Sub(t.sndUna), t.curMSS())
		a, next, k := t.sendText(int(t.sndUna.Sub(t.sndBufSeq)), int(n))
		t.transmitRuns(FlagACK|FlagPSH, a, next, k, now)
		return
	}
	if t.has(flagFinQueued) && t.sndUna == t.finSeq {
		t.transmit(FlagFIN|FlagACK, nil, now)
	}
}
