package tcp

import "time"

// Loss detection and recovery.
//
// With SACK, losses are found by RACK-TLP (RFC 8985, rack.go and
// rack_tcb.go), as Linux does since 4.18 (and without the DupThresh rule
// since 5.x): each segment in flight has a transmit record, and one is
// lost once a segment sent sufficiently later (RACK.rtt plus the
// reordering window) has been delivered; the reordering timer covers the
// window, the tail loss probe (§7) the tail whose ACKs stopped. Lost
// retransmissions are found by the same time rule. Fast recovery is RFC
// 6675's: entered when RACK has marked a segment lost, retransmitting
// the lost records first (NextSeg rule 1) and new data while pipe (the
// flight less the SACKed and the lost-not-retransmitted octets, Linux's
// packets_out - sacked_out - lost_out + retrans_out) is below cwnd.
//
// Without SACK, RFC 6582 runs on the same machinery in the way Linux's
// Reno emulation does: each duplicate ACK stands for one segment that
// left the network (RFC 5681 §3.2 step 4's inflation, expressed as pipe),
// the segment at SND.UNA is the one lost, and each partial ACK
// retransmits the next one (RFC 6582 §3.2 step 4).
//
// Spurious retransmissions are undone (the window before the reduction
// restored) from timestamps (RFC 3522 Eifel detection: the ACK of the
// first retransmitted segment echoes a TSval older than the
// retransmission) or from D-SACK (RFC 2883 §4, Linux undo_retrans: every
// retransmission of the episode reported as a duplicate).

// dupThreshSegs is RFC 5681's DupThresh.
const dupThreshSegs = 3

// maxReordering bounds the adapted DupThresh (Linux tcp_max_reordering).
const maxReordering = 300

// Reordering (RFC 4653 §3's idea, Linux's tp->reordering): a path that
// reorders by more than DupThresh segments makes every reordering a
// spurious fast retransmission and a needless reduction, undone an RTT
// later at best (25% of segments held 1 ms through the impair rig: 1558
// undos and 4016 D-SACKs in 64 MiB). So DupThresh adapts to the
// reordering seen: a hole filled by its original transmission with D
// segments SACKed above it (outside recovery, or the one whose
// retransmission an undo later proved spurious) raises DupThresh to
// D+1, up to maxReordering, and it never shrinks (as Linux). With SACK,
// it is RACK's DupThresh in §6.2 step 4 (reo_wnd stays open with that
// many segments SACKed); RACK's time window adapts on its own from
// D-SACKs. Without SACK it is RFC 5681's DupThresh.
func (t *TCB) noteReordering(dist uint32) {
	m := uint32(t.sndMSS)
	segs := min((dist+m-1)/m+1, maxReordering)
	if segs > uint32(max(t.rec.reordering, dupThreshSegs)) {
		t.rec.reordering = uint16(segs)
		t.count().ReorderRaised++
	}
}

// recovery is the loss-recovery state of a TCB.
type recovery struct {
	recover     Seq // RFC 6582 "recover" / RFC 6675 RecoveryPoint
	highRxt     Seq // RFC 6675 HighRxt (end of the highest retransmission)
	undoSeq     Seq // first octet retransmitted in the episode (Eifel)
	undoTS      uint32
	rtoTS       uint32 // our TSval when the last retransmission timeout fired (0: none)
	undoRetrans int32  // retransmissions of the episode not (yet) D-SACKed
	holeSeq     Seq    // the first hole a fast recovery retransmitted
	fillDist    uint32 // octets SACKed above holeSeq when an ACK covered it
	reordering  uint16 // adapted DupThresh in segments (0: dupThreshSegs)
	dupAcks     uint16
	flags       recFlags
	x           *sendState // RACK-TLP records, rate sampling, pacing (rack_tcb.go); nil until needed
}

type recFlags uint8

const (
	recIn    recFlags = 1 << iota // in fast recovery
	recUndo                       // the episode's reduction may still be undone
	recRTOEp                      // the episode began with a timeout
	recPTO                        // rtoAt holds a probe timeout, not an RTO
	recReo                        // rtoAt holds RACK's reordering timer (RFC 8985 §6.3)
	recAhead                      // recover is set and SND.UNA has not reached it yet
)

func (t *TCB) inRecovery() bool { return t.rec.flags&recIn != 0 }

// recoverAhead reports whether SND.UNA is below the recovery point of
// the last episode (RFC 6582 §3.2 step 1's "recover"). recover holds a
// sequence number only once an episode has set it, and the comparison
// is modulo 2^32: a zero recover is "ahead" of half of all ISSs, and a
// stale one again after 2 GiB. So recAhead, set with it and cleared by
// the first ACK that reaches it, says whether it still counts.
func (t *TCB) recoverAhead() bool {
	return t.rec.flags&recAhead != 0 && t.sndUna.LessThan(t.rec.recover)
}

// retransmittedAbove reports whether octets above s were retransmitted
// (RFC 6675 HighRxt beyond s). HighRxt holds a sequence number only
// once something was retransmitted, and the comparison is modulo 2^32:
// a zero one lies ahead of half of all ISSs. So it counts only inside
// the flight, (s, SND.MAX], and each ACK that passes it moves it up to
// SND.UNA so that it never goes stale.
func (t *TCB) retransmittedAbove(s Seq) bool {
	h := t.rec.highRxt
	return s.LessThan(h) && h.LessEq(t.sndMax)
}

// InRecovery reports whether the connection is in fast recovery.
func (t *TCB) InRecovery() bool { return t.inRecovery() }

// dupThresh is DupThresh, lowered per RFC 5827 (early retransmit) when
// fewer than four segments are outstanding and nothing new can be sent:
// such a flight cannot produce three duplicate ACKs.
func (t *TCB) dupThresh() uint32 {
	if t.rec.reordering > dupThreshSegs {
		return uint32(t.rec.reordering) // RFC 5827 §3.1 leaves ER off on reordering paths
	}
	m := uint32(t.sndMSS)
	segs := (t.sndMax.Sub(t.sndUna) + m - 1) / m
	if segs < 4 && segs >= 2 && t.Unsent() == 0 {
		return segs - 1
	}
	return dupThreshSegs
}

// nextLost is RFC 6675 NextSeg rule 1: the first octet at or above
// HighRxt that is neither SACKed nor acknowledged and is lost, with the
// length of its hole. Without SACK, the segment at SND.UNA during
// recovery (RFC 6582).
func (t *TCB) nextLost() (Seq, uint32, bool) {
	from := t.rec.highRxt
	if from.LessThan(t.sndUna) {
		from = t.sndUna
	}
	if !t.has(flagSACK) {
		if t.inRecovery() && from == t.sndUna && t.sndUna.LessThan(t.sndMax) {
			return t.sndUna, min(t.sndMax.Sub(t.sndUna), uint32(t.sndMSS)), true
		}
		return 0, 0, false
	}
	// RACK (RFC 8985) marked the lost records.
	if x := t.rec.x; x != nil {
		if i := x.q.nextLost(0); i >= 0 {
			r := x.q.at(i)
			return r.seq, r.n, true
		}
	}
	return 0, 0, false
}

// pipe is RFC 6675 §4 SetPipe: octets thought to be in the network.
// Octets in flight, less those SACKed (or, without SACK, one segment per
// duplicate ACK), less those lost and not yet retransmitted.
func (t *TCB) pipe() uint32 {
	flight := t.sndMax.Sub(t.sndUna)
	var out uint32
	if !t.has(flagSACK) {
		if !t.inRecovery() {
			return flight
		}
		out = min(uint32(t.rec.dupAcks)*uint32(t.sndMSS), flight)
		if t.rec.highRxt.LessEq(t.sndUna) {
			out += min(uint32(t.sndMSS), flight)
		}
		return flight - min(out, flight)
	}
	// Linux tcp_packets_in_flight: RACK's records keep the SACKed and
	// the lost-not-retransmitted octets.
	if x := t.rec.x; x != nil {
		out = x.q.sacked + x.q.lost
	}
	return flight - min(out, flight)
}

// retransmit resends up to n octets from l (one segment at most), with
// the FIN when it follows them. It returns the sequence space covered.
func (t *TCB) retransmit(l Seq, n uint32, now Instant) uint32 {
	dataEnd := t.sndBufSeq.Add(uint32(t.snd.n))
	var sent uint32
	switch {
	case l.LessThan(dataEnd):
		n = min(n, dataEnd.Sub(l), t.curMSS())
		a, next, k := t.sendText(int(l.Sub(t.sndBufSeq)), int(n))
		f := FlagACK
		end := l.Add(uint32(len(a) + k))
		if end == dataEnd {
			f |= FlagPSH
			if t.has(flagFinQueued) && t.finSeq == end && end.LessThan(t.sndMax) {
				f |= FlagFIN
			}
		}
		t.emitRuns(f, l, a, next, k, now)
		sent = uint32(len(a) + k)
		if f&FlagFIN != 0 {
			sent++
		}
	case t.has(flagFinQueued) && l == t.finSeq && l.LessThan(t.sndMax):
		t.emit(FlagFIN|FlagACK, l, nil, now)
		sent = 1
	default:
		return 0
	}
	t.noteSent(l, sent, now)
	t.noteRetransmit(l, now)
	return sent
}

// noteRetransmit counts a retransmission of the octet at seq: Karn's rule
// (RFC 6298 §3) and the undo bookkeeping.
func (t *TCB) noteRetransmit(seq Seq, now Instant) {
	t.count().Retransmits++
	if t.rttAt != Never && seq.LessThan(t.rttSeq) {
		t.rttAt = Never // Karn: the timed segment is ambiguous now
	}
	if t.rec.flags&recUndo != 0 {
		if t.rec.undoRetrans == 0 && t.rec.undoTS == 0 && t.has(flagTS) {
			t.rec.undoTS, t.rec.undoSeq = t.tsNow(now), seq
		}
		t.rec.undoRetrans++
	}
}

// beginEpisode starts a loss episode whose reduction may be undone.
func (t *TCB) beginEpisode(rto bool) {
	t.rec.flags |= recUndo
	t.rec.flags &^= recRTOEp
	if rto {
		t.rec.flags |= recRTOEp
		if t.rec.x != nil {
			t.rec.x.tlp.out = false // a timeout ends the probe episode
		}
	}
	t.rec.undoRetrans, t.rec.undoTS = 0, 0
	t.rec.holeSeq, t.rec.fillDist = t.sndUna, 0
	t.rec.recover = t.sndMax
	t.rec.flags |= recAhead
}

// onAck runs loss detection and recovery for an acceptable ACK; prevUna
// is SND.UNA before it, dup whether it is a duplicate ACK (RFC 5681 §2).
func (t *TCB) onAck(seg *Segment, prevUna Seq, dup bool, now Instant) {
	t.ackBegin(seg, prevUna, now)
	t.onAckLoss(seg, prevUna, dup, now)
	t.rateSample(now)
	t.releaseSender()
}

func (t *TCB) onAckLoss(seg *Segment, prevUna Seq, dup bool, now Instant) {
	advanced := t.sndUna != prevUna
	if advanced && t.sb.n > 0 && t.sb.high().GreaterThan(prevUna) {
		// A hole at prevUna closed with dist octets SACKed above it.
		dist := t.sb.above(prevUna)
		switch {
		case t.rec.flags&(recUndo|recRTOEp) == recUndo && prevUna.LessEq(t.rec.holeSeq) && t.sndUna.GreaterThan(t.rec.holeSeq):
			// The episode's first hole: by its original (then an undo
			// below shows it) or by the retransmission.
			t.rec.fillDist = dist
		case !t.inRecovery() && !t.retransmittedAbove(prevUna) && t.sndNxt == t.sndMax && t.rec.flags&recRTOEp == 0:
			// Never retransmitted: the original arrived late.
			t.noteReordering(dist)
		}
	}
	if advanced {
		t.sb.ackTo(t.sndUna)
		if t.sb.n == 0 {
			t.putRanges(&t.sb.s)
		}
		t.recordsAcked(t.sndUna, now)
		if !t.retransmittedAbove(t.sndUna) {
			t.rec.highRxt = t.sndUna // never stale, so never ahead by wrapping
		}
		if t.sndUna.GreaterEq(t.rec.recover) {
			t.rec.flags &^= recAhead
		}
	}
	newly := t.inputSACK(seg, now)
	if x := t.rec.x; x != nil && t.has(flagSACK) {
		x.rack.updateReoWnd(x.dsack, false, t.sndUna, t.sndNxt)
		if x.tlp.onAck(seg.Ack, x.dsackEnd, dup && seg.Options.NumSACK == 0) && !t.inRecovery() {
			// RFC 8985 §7.4.2: the probe repaired a loss that no
			// recovery saw; reduce as a recovery would (Linux: CWR).
			flight := t.sndMax.Sub(t.sndUna)
			t.cc.OnLoss(t.sndMSS, flight, now)
			t.cc.OnRecoveryEnd(t.sndMSS, flight, now)
		}
		t.rackDetect(now)
	}
	if advanced && t.rec.flags&recUndo != 0 && t.rec.undoTS != 0 && t.sndUna.GreaterThan(t.rec.undoSeq) {
		// RFC 3522 §3.2: the ACK of the first retransmitted octet echoes
		// a timestamp older than the retransmission: the original arrived.
		o := &seg.Options
		if o.HasTS && o.TSEcr != 0 && int32(o.TSEcr-t.rec.undoTS) < 0 {
			t.undo(now)
		} else {
			t.rec.undoTS = 0 // genuine (as far as Eifel can tell); D-SACK may still undo
		}
	}
	rackLost := t.has(flagSACK) && t.rackLost()
	if t.inRecovery() && t.sndUna.GreaterEq(t.rec.recover) {
		t.exitRecovery(now) // RFC 6582 §3.2 step 3: full acknowledgment
		if !rackLost {
			return
		}
		// RACK already holds losses beyond the recovery point: a new
		// recovery starts on this ACK (Linux tcp_fastretrans_alert), not
		// an RTO later.
	}
	if t.inRecovery() {
		if advanced {
			// Partial ACK (RFC 6582 §3.2 step 4): the segment now at
			// SND.UNA was lost too; retransmit it at once. Without SACK,
			// the duplicate ACKs it accounts for leave the pipe count.
			if !t.has(flagSACK) {
				segs := uint16(min(t.sndUna.Sub(prevUna)/uint32(t.sndMSS), 0xffff))
				t.rec.dupAcks -= min(t.rec.dupAcks, segs)
				if t.rec.highRxt.LessEq(t.sndUna) {
					if s := t.retransmit(t.sndUna, uint32(t.sndMSS), now); s > 0 {
						t.rec.highRxt = t.sndUna.Add(s)
					}
				}
			}
		} else if dup {
			t.rec.dupAcks++
		}
		t.recoverySend(now)
		return
	}
	if advanced {
		t.rec.dupAcks = 0
	}
	if t.sndMax == t.sndUna || t.sndNxt != t.sndMax {
		// Nothing outstanding, or go-back-N after a timeout is running.
		return
	}
	if dup || newly {
		t.rec.dupAcks++
	}
	if t.recoverAhead() {
		// RFC 6582 §3.2 step 1: duplicate ACKs for data sent before the
		// last recovery (or timeout) began start no new one. What RACK
		// finds lost meanwhile is resent (Linux's Loss state).
		if rackLost {
			t.recoverySend(now)
		}
		return
	}
	lost := uint32(t.rec.dupAcks) >= t.dupThresh()
	if t.has(flagSACK) {
		// RACK (RFC 8985 §6.2) marked a segment lost; DupThresh only
		// for a peer that negotiated SACK and sends no blocks.
		lost = rackLost || t.sb.n == 0 && lost
	}
	if lost {
		t.enterRecovery(now)
	}
}

// enterRecovery is RFC 6675 §5 steps 4.1-4.4 (RFC 6582 §3.2 step 2).
func (t *TCB) enterRecovery(now Instant) {
	flight := t.sndMax.Sub(t.sndUna)
	t.beginEpisode(false)
	t.rec.flags |= recIn
	t.rec.highRxt = t.sndUna
	t.cc.OnLoss(t.sndMSS, flight, now)
	t.count().FastRetransmits++
	if t.has(flagSACK) && t.sb.n > 0 {
		t.count().SACKRecoveries++
	}
	// Step 4.3: the first lost segment goes regardless of pipe.
	l, n, ok := t.nextLost()
	if !ok {
		l, n = t.sndUna, uint32(t.sndMSS)
	}
	if s := t.retransmit(l, n, now); s > 0 {
		t.rec.highRxt = l.Add(s)
	}
	t.recoverySend(now)
}

// exitRecovery ends fast recovery on a full acknowledgment.
func (t *TCB) exitRecovery(now Instant) {
	if x := t.rec.x; x != nil {
		x.rack.updateReoWnd(false, true, t.sndUna, t.sndNxt)
	}
	t.rec.flags &^= recIn
	t.rec.dupAcks = 0
	t.cc.OnRecoveryEnd(t.sndMSS, t.sndMax.Sub(t.sndUna), now)
}

// recoverySend is RFC 6675 §5 step (C): while cwnd - pipe >= 1 SMSS,
// send NextSeg: lost octets first (rule 1), then new data (rule 2,
// through trySend, which gates on pipe during recovery).
func (t *TCB) recoverySend(now Instant) {
	for range 64 {
		if t.pipe()+uint32(t.sndMSS) > t.cwnd() {
			return
		}
		l, n, ok := t.nextLost()
		if !ok {
			break
		}
		s := t.retransmit(l, n, now)
		if s == 0 {
			break
		}
		t.rec.highRxt = l.Add(s)
	}
	t.trySend(now)
}

// inputDSACK handles a D-SACK block [l, r) (RFC 2883 §4): the peer got
// those octets twice. When every retransmission of the current episode
// comes back as a duplicate, the reduction was needless and is undone.
func (t *TCB) inputDSACK(l, r Seq, now Instant) {
	t.count().DSACKs++
	if t.rec.flags&recUndo == 0 || t.rec.undoRetrans <= 0 {
		return
	}
	if l.LessThan(t.rec.recover) {
		t.rec.undoRetrans--
		if t.rec.undoRetrans == 0 {
			t.undo(now)
		}
	}
}

// undo restores the congestion state from before the episode's reduction.
func (t *TCB) undo(now Instant) {
	t.cc.Undo()
	t.count().SpuriousUndos++
	if t.rec.flags&recRTOEp == 0 && t.rec.fillDist > 0 {
		// The fast retransmission was spurious: the hole was reordering
		// as deep as the SACKs above it when it filled (Linux
		// tcp_try_undo_partial's tcp_update_reordering).
		t.noteReordering(t.rec.fillDist)
	}
	if t.rec.flags&recRTOEp != 0 && t.sndNxt.LessThan(t.sndMax) {
		// Eifel response (RFC 4015 §3): the timeout was spurious, the
		// octets beyond SND.UNA are in the network; resume with new data.
		t.sndNxt = t.sndMax
		if x := t.rec.x; x != nil {
			x.q.unmarkLost()
		}
	}
	t.rec.flags &^= recIn | recUndo | recRTOEp
	t.rec.dupAcks = 0
	t.rec.undoTS = 0
}

// wcDelAckT is RFC 8985 §7.2's worst-case delayed-ACK time.
const wcDelAckT = 200 * time.Millisecond

// armLossTimer (re)starts the retransmission timer (RFC 6298 §5.3), or,
// when probe (new data went out, or a cumulative ACK came) and RFC 8985
// §7.2 allows it, the shorter probe timeout (PTO) of a tail loss probe:
// SACK in use, an SRTT, no probe outstanding, not in fast recovery, not
// recovering from an RTO (Linux: CA_Open or CA_Disorder). A PTO armed by
// a retransmission would fire between the backed-off RTOs and undo their
// backoff (issue 14 item 1). rtoAt also holds RACK's reordering timer
// (recReo, rack_tcb.go), as Linux's one retransmit timer does
// (icsk_pending); arming the loss timer replaces it.
func (t *TCB) armLossTimer(now Instant, probe bool) {
	t.rec.flags &^= recPTO | recReo
	if probe && tlpAllowed(t.has(flagSACK), t.has(flagRTT), t.inRecovery(), t.afterRTO(), t.rec.x != nil && t.rec.x.tlp.out) &&
		t.sndNxt == t.sndMax && t.state == Established {
		// §7.2: never later than the RTO would fire (the probe then
		// goes at that time, and the RTO follows it).
		t.rtoAt = now.Add(ptoFor(t.srtt, t.sndMax.Sub(t.sndUna) <= uint32(t.sndMSS), t.rto))
		t.rec.flags |= recPTO
		return
	}
	t.rtoAt = now.Add(t.rto)
}

// probeTimeout sends a tail loss probe (RFC 8985 §7.3): one new segment
// if the windows allow, else the last segment sent again; then the RTO.
func (t *TCB) probeTimeout(now Instant) {
	t.rec.flags &^= recPTO
	if t.sndMax == t.sndUna {
		return
	}
	t.count().TLPProbes++
	sent := false
	if u := uint32(t.Unsent()); t.sndNxt == t.sndMax && probeNew(u, t.curMSS(), t.sndNxt, t.sndUna.Add(t.sndWnd)) {
		n := min(u, t.curMSS())
		off := int(t.sndNxt.Sub(t.sndBufSeq))
		a, next, k := t.sendText(off, int(n))
		t.transmitRuns(FlagACK|FlagPSH, a, next, k, now)
		sent = true
		// New text in flight counts toward the window's use as trySend's
		// does (Linux sends it through tcp_write_xmit, hence
		// tcp_cwnd_validate): it may be text Nagle held, and an ACK in
		// slow start may then double a flight that includes it; text
		// still queued behind a full cwnd marks the window cwnd-limited.
		// A resent probe adds nothing to the flight, and Linux's
		// retransmit path validates nothing either.
		t.cwndValidate(t.Unsent() > 0 && t.cwndFull())
	}
	if !sent {
		end := t.sndMax
		if t.has(flagFinQueued) && t.finSeq.LessThan(end) {
			end = t.finSeq // the FIN rides with the last text
		}
		l := t.sndUna
		if end.Sub(l) > uint32(t.sndMSS) {
			l = end.Add(^uint32(t.sndMSS) + 1)
		}
		t.retransmit(l, t.sndMax.Sub(l), now)
	}
	t.sx().tlp.sent(t.sndMax, !sent)
	t.rtoAt = now.Add(t.rto)
}
