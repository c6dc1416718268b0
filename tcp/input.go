package tcp

import "time"

// SEGMENT ARRIVES (RFC 9293 §3.10.7).

// Input processes one arriving segment. seg.Payload is read during the
// call only. seg is not modified.
func (t *TCB) Input(seg *Segment, now Instant) {
	switch t.state {
	case Closed:
		t.replyReset(seg)
		return
	case Listen:
		t.inputListen(seg, now)
		return
	case SynSent:
		t.inputSynSent(seg, now)
		return
	}
	t.inputSynchronized(seg, now)
}

// inputListen is §3.10.7.2.
func (t *TCB) inputListen(seg *Segment, now Instant) {
	switch {
	case seg.Flags&FlagRST != 0:
		// "An incoming RST should be ignored."
	case seg.Flags&FlagACK != 0:
		// "Any acknowledgment is bad if it arrives on a connection still
		// in the LISTEN state": <SEQ=SEG.ACK><CTL=RST>.
		t.replyReset(seg)
	case seg.Flags&FlagSYN != 0:
		t.irs = seg.Seq
		t.rcvNxt = seg.Seq + 1
		t.rcvAdv = t.rcvNxt
		t.negotiate(seg)
		t.tsRecentSec = secClock(now)
		t.iss = t.chooseISS(now)
		t.sndUna, t.sndNxt, t.sndMax = t.iss, t.iss+1, t.iss+1
		t.sndBufSeq = t.iss + 1
		t.sndSml = t.iss
		// RFC 7323 §2.2: the window of a SYN is not scaled.
		t.sndWnd, t.maxSndWnd = uint32(seg.Window), uint32(seg.Window)
		t.sndWl1, t.sndWl2 = seg.Seq, t.iss
		t.setState(SynReceived)
		t.lastRecvMs = msClock(now)
		t.sendSYN(now, true)
		t.timeSYN(now)
		t.armRTO(now)
	default:
		t.Drops++
	}
}

// inputSynSent is §3.10.7.3.
func (t *TCB) inputSynSent(seg *Segment, now Instant) {
	ack := seg.Flags&FlagACK != 0
	if ack && (seg.Ack.LessEq(t.iss) || seg.Ack.GreaterThan(t.sndMax)) {
		// Unacceptable ACK: <SEQ=SEG.ACK><CTL=RST> unless it is a RST.
		if seg.Flags&FlagRST == 0 {
			t.sendRST(seg.Ack, now)
		}
		t.Drops++
		return
	}
	if seg.Flags&FlagRST != 0 {
		// RFC 5961 §3.2 keeps §3.10.7.3: a RST is acceptable in SYN-SENT
		// only if its ACK acknowledges our SYN.
		if ack {
			t.closeWith(ErrConnectionRefused)
		} else {
			t.Drops++
		}
		return
	}
	if seg.Flags&FlagSYN == 0 {
		t.Drops++
		return
	}
	t.irs = seg.Seq
	t.rcvNxt = seg.Seq + 1
	t.rcvAdv = t.rcvNxt
	t.negotiate(seg)
	t.tsRecentSec = secClock(now)
	t.lastRecvMs = msClock(now)
	if ack {
		// Our SYN is acknowledged: ESTABLISHED.
		t.sampleRTT(seg.Ack, now)
		t.sndUna = seg.Ack
		t.sndWnd, t.maxSndWnd = uint32(seg.Window), uint32(seg.Window)
		t.sndWl1, t.sndWl2 = seg.Seq, seg.Ack
		t.retries = 0
		t.rtoAt = Never
		t.setState(Established)
		t.armKeepalive(now)
		// Text on a SYN-ACK is not taken (no TFO): it is left for the
		// peer to retransmit, and our ACK says what we have.
		t.sendACK(now)
		t.trySend(now)
		return
	}
	// Simultaneous open (§3.5 figure 8): SYN-RECEIVED, send SYN,ACK with
	// our original ISS.
	t.sndWnd, t.maxSndWnd = uint32(seg.Window), uint32(seg.Window)
	t.sndWl1, t.sndWl2 = seg.Seq, t.iss
	t.flags |= flagSynOnly
	t.setState(SynReceived)
	t.retries = 0
	t.rto = t.cfg.InitialRTO
	t.sendSYN(now, true)
	t.armRTO(now)
}

// rcvWnd is RCV.WND: the window we last advertised, from RCV.NXT.
func (t *TCB) rcvWnd() uint32 {
	if t.rcvAdv.GreaterThan(t.rcvNxt) {
		return t.rcvAdv.Sub(t.rcvNxt)
	}
	return 0
}

// acceptable is the segment acceptability test of §3.10.7.4, first check.
func (t *TCB) acceptable(seq Seq, n uint32) bool {
	w := t.rcvWnd()
	switch {
	case n == 0 && w == 0:
		return seq == t.rcvNxt
	case n == 0:
		return seq.InWindow(t.rcvNxt, w)
	case w == 0:
		return false
	default:
		return seq.InWindow(t.rcvNxt, w) || seq.Add(n-1).InWindow(t.rcvNxt, w)
	}
}

// inputSynchronized is §3.10.7.4 for SYN-RECEIVED and the synchronized
// states.
func (t *TCB) inputSynchronized(seg *Segment, now Instant) {
	seq, n := seg.Seq, seg.Len()
	flags := seg.Flags
	if t.state == SynReceived && flags&FlagSYN != 0 && seq == t.irs && flags&FlagRST == 0 {
		if flags&FlagACK == 0 {
			// A retransmitted SYN: our SYN,ACK was lost; send it again
			// (as Linux does for a request socket).
			t.sendSYN(now, true)
			return
		}
		// The SYN,ACK of a simultaneous open (§3.5 figure 8, line 5):
		// its SYN is the one we already have; treat the rest.
		seq, n, flags = seq+1, n-1, flags&^FlagSYN
	}
	// RFC 7323 §5.3: PAWS before anything else.
	if t.pawsReject(seg, now) {
		t.Drops++
		t.oowACK(seg, now)
		return
	}
	// RFC 5961 §4.2: a SYN in SYN-RECEIVED or a synchronized state gets a
	// (rate-limited) challenge ACK "irrespective of the sequence number",
	// so before the sequence check, whose plain ACK is not limited.
	// TIME-WAIT keeps §3.10.7.4 (and RFC 6191 is the owner's).
	if flags&FlagSYN != 0 && flags&FlagRST == 0 && t.state != TimeWait {
		if t.state == SynReceived && t.has(flagPassive) && t.acceptable(seq, n) {
			// A new SYN inside the window of a half-open passive
			// connection (the peer restarted with another ISN): §3.10.7.4
			// fourth check, "return this connection to LISTEN". Linux
			// resets it (tcp_check_req, embryonic_reset: RST|ACK to the
			// SYN) and drops the request, so the peer's next ACK meets a
			// RST too; its next SYN opens afresh.
			t.Drops++
			t.replyReset(seg)
			if t.l != nil {
				t.closeWith(ErrConnectionReset)
			} else {
				t.backToListen()
			}
			return
		}
		t.challengeACK(now)
		return
	}
	// First: sequence number.
	zeroWndProbe := false
	if !t.acceptable(seq, n) {
		// RCV.WND zero: "special allowance should be made to accept valid
		// ACKs, URGs, and RSTs": a segment at exactly RCV.NXT is
		// processed for its ACK, its text is dropped.
		if t.rcvWnd() == 0 && seq == t.rcvNxt {
			zeroWndProbe = true
		} else {
			t.Drops++
			// A duplicate (text, or a retransmitted FIN: its sequence
			// number counts, RFC 2883 §4 and Linux's tcp_send_dupack)
			// is reported in a D-SACK block.
			if end := seq.Add(n); n > 0 && end.LessEq(t.rcvNxt) {
				t.noteDSACK(seq, end)
				if seq.Add(n) == t.rcvNxt && flags&FlagACK != 0 {
					// A retransmission of the last text (and FIN) we took,
					// its ACK lost: echo its TSval, as Linux does (its
					// tcp_sequence accepts END = RCV.NXT), not the
					// older TS.Recent, so the sender's RTT sample
					// (RFC 7323 §4.1) is not inflated by its timeout.
					t.updateTSRecent(seg, now)
				}
			}
			if flags&FlagRST == 0 {
				if t.state == TimeWait && flags&FlagFIN != 0 {
					// §3.10.7.4 eighth step, TIME-WAIT: a retransmitted
					// FIN is acknowledged and restarts the 2 MSL timeout.
					t.stateAt = now.Add(2 * t.cfg.MSL)
				}
				t.oowACK(seg, now)
			}
			return
		}
	}
	// Second: RST (RFC 5961 §3.2).
	if flags&FlagRST != 0 {
		t.inputRST(seg, now)
		return
	}
	// Fourth: SYN in a synchronized state or SYN-RECEIVED gets a
	// challenge ACK (RFC 5961 §4.2, replacing the RFC 793 reset).
	if flags&FlagSYN != 0 {
		t.challengeACK(now)
		return
	}
	// Fifth: ACK. "If the ACK bit is off, drop the segment."
	if flags&FlagACK == 0 {
		t.Drops++
		return
	}
	t.lastRecvMs = msClock(now)
	t.keepProbes = 0
	if !t.inputACK(seg, seq, now) {
		return
	}
	t.updateTSRecent(seg, now)
	if t.state == Closed {
		return
	}
	// Sixth: URG is not supported as out-of-band data; the octets are
	// delivered in line (RFC 6093 §5 recommends applications not use it).
	// Seventh: text.
	if len(seg.Payload) > 0 {
		if zeroWndProbe {
			t.sendACK(now)
		} else if t.inputText(seg, seq, now) {
			return
		}
	}
	// Eighth: FIN (this one, or one held out of order that the text
	// just reached).
	if t.has(flagFinPending) {
		t.flags &^= flagFinPending
		t.inputFIN(now)
	} else if flags&FlagFIN != 0 && (!zeroWndProbe || len(seg.Payload) == 0) {
		// A bare FIN is taken even into a zero window (Linux
		// tcp_data_queue: it needs no buffer space).
		fin := seq.Add(uint32(len(seg.Payload)))
		if fin == t.rcvNxt {
			t.inputFIN(now)
		} else if fin.GreaterThan(t.rcvNxt) && fin.InWindow(t.rcvNxt, t.rcvWnd()+1) {
			t.flags |= flagPeerFinOOO
			t.ooo.fin = fin
		}
	}
	t.armKeepalive(now)
	t.trySend(now)
	if t.has(flagAckNow) {
		t.sendACK(now)
	}
}

// oowACK answers an out-of-window or PAWS-rejected segment with an ACK
// (§3.10.7.4, RFC 7323 §5.3), at most one per oowACKInterval for a
// segment that carries neither text nor FIN, or carries a SYN (Linux
// tcp_oow_rate_limited): two ends that each find the other's ACKs
// unacceptable would otherwise ACK each other forever (issue 14 item
// 11). Text is always answered: it is not part of such a loop.
func (t *TCB) oowACK(seg *Segment, now Instant) {
	if (seg.Len() == 0 || seg.Flags&FlagSYN != 0) && t.oowLimited(now) {
		return
	}
	t.sendACK(now)
}

// oowLimited reports whether an out-of-window or challenge ACK must be
// skipped, one being allowed per oowACKInterval per connection (Linux's
// __tcp_oow_rate_limited); when it is not, the interval starts again.
func (t *TCB) oowLimited(now Instant) bool {
	ms := msClock(now)
	if t.oowMs != 0 && ms-t.oowMs < uint32(oowACKInterval/time.Millisecond) {
		t.count().OOWACKsLimited++
		return true
	}
	t.oowMs = ms
	return false
}

// msClock is now in milliseconds, wrapping every 49 days, never 0 (0
// marks "never" in the fields that keep it): for intervals the TCB
// compares by subtraction that are far shorter than the wrap.
func msClock(now Instant) uint32 { return max(uint32(now/Instant(time.Millisecond)), 1) }

// oowACKInterval is Linux's tcp_invalid_ratelimit (500 ms).
const oowACKInterval = 500 * time.Millisecond

// segWindow is SEG.WND scaled (RFC 7323 §2.3), except in a SYN, whose
// window is never scaled (§2.2): also the SYN,ACK that completes a
// simultaneous open (issue 14 item 12).
func (t *TCB) segWindow(seg *Segment) uint32 {
	if seg.Flags&FlagSYN != 0 {
		return uint32(seg.Window)
	}
	return uint32(seg.Window) << t.sndWScale
}

// inputACK is the fifth check (§3.10.7.4 "check the ACK field"). It
// returns false when the segment is finished with.
func (t *TCB) inputACK(seg *Segment, seq Seq, now Instant) bool {
	ack := seg.Ack
	if t.state == SynReceived {
		if !(t.sndUna.LessThan(ack) && ack.LessEq(t.sndMax)) {
			// Old duplicate SYN case (§3.5 figure 9): <SEQ=SEG.ACK><CTL=RST>.
			t.sendRST(ack, now)
			t.Drops++
			return false
		}
		if t.l != nil && !t.l.roomToAccept() {
			// Accept queue full: drop the ACK as Linux does; the SYN,ACK
			// timer will try again.
			t.Drops++
			return false
		}
		t.setState(Established)
		t.flags &^= flagSynOnly
		t.sndWl1, t.sndWl2 = seq, ack
		t.sndWnd = t.segWindow(seg)
		t.maxSndWnd = max(t.maxSndWnd, t.sndWnd)
		if t.l != nil {
			t.l.childEstablished(t)
		}
	}
	// RFC 5961 §5.2: acceptable if SND.UNA - MAX.SND.WND <= SEG.ACK <=
	// SND.NXT (SND.MAX here, see TCB); otherwise ACK and drop. The ACK is
	// a challenge ACK, rate-limited (§7), as Linux now sends for both
	// sides: a blind injector must not get an answer per guess.
	if ack.GreaterThan(t.sndMax) || ack.LessThan(t.sndUna-Seq(t.maxSndWnd)) {
		t.challengeACK(now)
		return false
	}
	// RFC 5681 §2 DUPLICATE ACKNOWLEDGMENT: data outstanding, no text,
	// no SYN/FIN, the same ACK and the same window.
	prevUna := t.sndUna
	dup := ack == t.sndUna && t.sndMax != t.sndUna && len(seg.Payload) == 0 &&
		seg.Flags&(FlagSYN|FlagFIN) == 0 && uint32(seg.Window)<<t.sndWScale == t.sndWnd
	if t.sndUna.LessThan(ack) {
		r := t.sampleTS(seg, now)
		if r == 0 {
			r = t.sampleRTT(ack, now)
		}
		t.ackAdvance(ack, r, now)
	}
	// Window update (§3.10.7.4): only from a segment not older than the
	// one that last updated it, or (Linux tcp_may_update_window) from one
	// whose ACK moved SND.UNA: the offered window is relative to SEG.ACK,
	// so keeping the old SND.WND after SND.UNA moved would slide the right
	// edge past anything the peer offered. Never from an ACK below SND.UNA
	// (Linux's old_ack path).
	if ack.GreaterEq(prevUna) && (prevUna.LessThan(ack) || t.sndWl1.LessThan(seq) || (t.sndWl1 == seq && t.sndWl2.LessEq(ack))) {
		t.sndWnd = t.segWindow(seg)
		t.maxSndWnd = max(t.maxSndWnd, t.sndWnd)
		t.sndWl1, t.sndWl2 = seq, ack
		if t.sndWnd > 0 && t.persistAt != Never {
			t.persistAt = Never
			t.persistShift = 0
		}
	}
	t.persistProbes = 0
	if t.state != SynReceived && t.state != TimeWait {
		t.onAck(seg, prevUna, dup, now)
	}
	finAcked := t.has(flagFinQueued) && t.sndUna.GreaterThan(t.finSeq)
	switch t.state {
	case FinWait1:
		if finAcked {
			t.setState(FinWait2)
			if t.has(flagOrphan) {
				t.stateAt = now.Add(t.cfg.FinTimeout)
			}
		}
	case Closing:
		if finAcked {
			t.enterTimeWait(now)
			return false
		}
	case LastAck:
		if finAcked {
			t.closeWith(nil)
			return false
		}
	case TimeWait:
		// Only a retransmitted FIN can arrive; it is handled by the
		// sequence check (it lies before RCV.NXT).
		return false
	}
	return true
}

// ackAdvance moves SND.UNA to ack: frees acknowledged text, hands the
// controller the ACK's RTT sample r (0: none), restarts or stops the
// retransmission timer (RFC 6298 §5.2/5.3).
func (t *TCB) ackAdvance(ack Seq, r time.Duration, now Instant) {
	acked := ack.Sub(t.sndUna)
	t.sndUna = ack
	if t.sndNxt.LessThan(ack) {
		t.sndNxt = ack
	}
	if t.sndBufSeq.LessThan(ack) {
		k := min(int(ack.Sub(t.sndBufSeq)), t.snd.n)
		if k > 0 {
			t.snd.consume(k)
			t.sndBufSeq = t.sndBufSeq.Add(uint32(k))
			t.events |= EventWritable
		}
	}
	t.retries = 0
	if !t.inRecovery() && t.cwndLimited() {
		t.cc.OnAck(acked, t.sndMSS, t.sndMax.Sub(t.sndUna), now, t.srtt, r)
	}
	if t.sndUna == t.sndMax {
		t.rtoAt = Never
		t.rec.flags &^= recPTO
	} else {
		t.armLossTimer(now, true)
	}
}

// inputFIN is the eighth check for a FIN at RCV.NXT.
func (t *TCB) inputFIN(now Instant) {
	t.flags &^= flagPeerFinOOO
	if t.has(flagFinRecvd) {
		t.sendACK(now)
		return
	}
	t.flags |= flagFinRecvd
	t.rcvNxt++
	t.events |= EventReadable
	if t.ooo.n > 0 {
		// Out-of-order text beyond the FIN, which ended the stream
		// before it: forgotten, as Linux's tcp_fin purges its
		// out-of-order queue.
		t.dropOOO()
	}
	switch t.state {
	case SynReceived, Established:
		t.setState(CloseWait)
	case FinWait1:
		if t.has(flagFinQueued) && t.sndUna.GreaterThan(t.finSeq) {
			t.sendACK(now)
			t.enterTimeWait(now)
			return
		}
		t.setState(Closing)
	case FinWait2:
		t.sendACK(now)
		t.enterTimeWait(now)
		return
	}
	// "Acknowledge it" at once (no delayed ACK for a FIN, as Linux).
	t.sendACK(now)
}
