package tcp

import "time"

// RACK-TLP loss detection (RFC 8985): a segment is lost when a segment
// sent sufficiently later has been delivered (RACK, §6), and a tail
// whose ACKs stopped is probed before the RTO (TLP, §7).
//
// RACK needs a transmit time per segment. The send queue stays a byte
// ring; beside it, txQueue keeps one txRecord per segment in flight:
// 32 octets holding the sequence range, the last transmit time, the
// SACKed/lost/retransmitted flags and the delivery-rate snapshot of
// rate.go. Records exist only for octets in [SND.UNA, SND.MAX): one is
// pushed per transmitted segment and dropped when the cumulative ACK
// passes it, so the ring costs 32 octets per segment in flight (a
// 64 KiB window of full segments: 45 records, 1.4 KiB). The ring is
// allocated on the first transmission, grows by doubling up to a bound
// the TCB derives from the send buffer (beyond it a new segment merges
// into the last record, which only delays RACK's verdict on it: the RTO
// still covers it), and a large ring is dropped when the flight drains.

// txFlags are a record's states (Linux's TCPCB_* sacked bits).
type txFlags uint8

const (
	txSACKed     txFlags = 1 << iota // selectively acknowledged
	txLost                           // marked lost, not retransmitted since
	txRetrans                        // retransmitted at least once (RFC 8985 Segment.retransmitted)
	txRxtOut                         // a retransmission is in flight (Linux TCPCB_SACKED_RETRANS)
	txAppLimited                     // sent while application-limited (rate.go)
)

// txRecord is one segment in flight.
type txRecord struct {
	xmit      Instant // last transmission (RFC 8985 Segment.xmit_ts)
	seq       Seq     // first octet
	n         uint32  // octets, SYN and FIN counted
	delivered uint32  // rate.go: C.delivered (octets, modulo 2^32) at xmit
	dlvAgo    uint32  // rate.go: µs from C.delivered_time to xmit
	firstAgo  uint32  // rate.go: µs from C.first_send_time to xmit
	flags     txFlags
}

func (r *txRecord) end() Seq { return r.seq.Add(r.n) }

// txQueue is a ring of txRecords in sequence order, covering the octets
// in flight contiguously.
type txQueue struct {
	recs    []txRecord // ring storage; len is a power of two (or 0)
	head, n int
	// sacked and lost are the octets of SACKed records and of records
	// marked lost and not retransmitted since: RFC 6675's pipe is the
	// flight less both (Linux: packets_out - sacked_out - lost_out +
	// retrans_out), kept current so it costs nothing to read.
	sacked, lost uint32
}

// count returns r's share of the sacked and lost totals.
func (r *txRecord) count() (sacked, lost uint32) {
	switch {
	case r.flags&txSACKed != 0:
		return r.n, 0
	case r.flags&txLost != 0:
		return 0, r.n
	}
	return 0, 0
}

// set changes r's flags, keeping the totals.
func (q *txQueue) set(r *txRecord, f txFlags) {
	s, l := r.count()
	r.flags = f
	s2, l2 := r.count()
	q.sacked += s2 - s
	q.lost += l2 - l
}

// drop takes r's share out of the totals (it leaves the queue or shrinks).
func (q *txQueue) drop(r *txRecord) {
	s, l := r.count()
	q.sacked -= s
	q.lost -= l
}

const (
	txQueueMin  = 16  // first allocation, in records
	txQueueKeep = 256 // a ring larger than this is freed when it empties
)

func (q *txQueue) at(i int) *txRecord { return &q.recs[(q.head+i)&(len(q.recs)-1)] }

// last returns the highest record (n > 0).
func (q *txQueue) last() *txRecord { return q.at(q.n - 1) }

// push records a first transmission of [seq, seq+n) at now. limit
// bounds the ring's records; at the bound the segment joins the last
// record. It returns the record that holds the segment.
func (q *txQueue) push(seq Seq, n uint32, now Instant, limit int) *txRecord {
	if q.n >= max(limit, txQueueMin) && q.last().flags&^txAppLimited == 0 {
		r := q.last()
		r.n += n
		r.xmit = now
		return r
	}
	if q.n == len(q.recs) {
		q.grow()
	}
	q.n++
	r := q.last()
	*r = txRecord{xmit: now, seq: seq, n: n}
	return r
}

func (q *txQueue) grow() {
	c := max(2*len(q.recs), txQueueMin)
	recs := make([]txRecord, c)
	for i := range q.n {
		recs[i] = *q.at(i)
	}
	q.recs, q.head = recs, 0
}

// find returns the index of the record holding seq, or -1.
func (q *txQueue) find(seq Seq) int {
	lo, hi := 0, q.n
	for lo < hi {
		m := (lo + hi) / 2
		r := q.at(m)
		switch {
		case seq.LessThan(r.seq):
			hi = m
		case seq.GreaterEq(r.end()):
			lo = m + 1
		default:
			return m
		}
	}
	return -1
}

// ackTo drops the records below una (a cumulative ACK), calling
// delivered for each one not SACKed before (newly delivered), and trims
// a record una splits.
func (q *txQueue) ackTo(una Seq, delivered func(*txRecord)) {
	for q.n > 0 {
		r := q.at(0)
		if r.end().LessEq(una) {
			if r.flags&txSACKed == 0 {
				delivered(r)
			}
			q.drop(r)
			q.head = (q.head + 1) & (len(q.recs) - 1)
			q.n--
			continue
		}
		if r.seq.LessThan(una) {
			q.drop(r)
			r.n -= una.Sub(r.seq)
			r.seq = una
			s, l := r.count()
			q.sacked += s
			q.lost += l
		}
		break
	}
	if q.n == 0 {
		q.head = 0
		if len(q.recs) > txQueueKeep {
			q.recs = nil
		}
	}
}

// sack marks the records inside [l, r) SACKed, calling delivered for
// each newly SACKed one. A record only partly covered stays unSACKed
// (the peer lacks some of it).
func (q *txQueue) sack(l, r Seq, delivered func(*txRecord)) {
	i := q.find(l)
	if i < 0 {
		if q.n == 0 || !l.LessThan(q.at(0).seq) {
			return
		}
		i = 0
	}
	for ; i < q.n; i++ {
		x := q.at(i)
		if x.end().GreaterThan(r) {
			break
		}
		if x.seq.LessThan(l) || x.flags&txSACKed != 0 {
			continue
		}
		q.set(x, x.flags&^(txLost|txRxtOut)|txSACKed)
		delivered(x)
	}
}

// retransmitted notes a retransmission of [l, r) at now: the records it
// overlaps take the new transmit time (RFC 8985 §6.1: xmit_ts is the
// latest transmission) and leave the lost state; sent is called for each
// (rate.go's snapshot).
func (q *txQueue) retransmitted(l, r Seq, now Instant, sent func(*txRecord)) {
	i := q.find(l)
	if i < 0 {
		return
	}
	for ; i < q.n; i++ {
		x := q.at(i)
		if !x.seq.LessThan(r) {
			break
		}
		x.xmit = now
		q.set(x, x.flags&^txLost|txRetrans|txRxtOut)
		if sent != nil {
			sent(x)
		}
	}
}

// dsacked counts the retransmitted records inside the D-SACK block
// [l, r) (RFC 2883: the peer got them twice, so that retransmission was
// spurious; the TCB's undo counts them down). Only records still in
// flight are seen; a D-SACK below SND.UNA is judged by the TCB.
func (q *txQueue) dsacked(l, r Seq) int {
	k := 0
	for i := max(q.find(l), 0); i < q.n; i++ {
		x := q.at(i)
		if x.end().GreaterThan(r) {
			break
		}
		if !x.seq.LessThan(l) && x.flags&txRetrans != 0 {
			k++
		}
	}
	return k
}

// unmarkLost clears every lost mark (an undo proved the losses
// spurious; Linux tcp_undo_cwnd_reduction with unmark_loss).
func (q *txQueue) unmarkLost() {
	for i := range q.n {
		q.set(q.at(i), q.at(i).flags&^txLost)
	}
}

// renege forgets every SACK (the peer reneged: RFC 2018 §8; Linux
// tcp_timeout_mark_lost clears the SACKed marks).
func (q *txQueue) renege() {
	for i := range q.n {
		q.set(q.at(i), q.at(i).flags&^txSACKed)
	}
}

// nextLost returns the index of the first record marked lost and not
// retransmitted since, at or after index from (-1: none).
func (q *txQueue) nextLost(from int) int {
	for i := max(from, 0); i < q.n; i++ {
		if q.at(i).flags&(txLost|txSACKed) == txLost {
			return i
		}
	}
	return -1
}

// rack is the RACK state of RFC 8985 §6.1.
type rack struct {
	xmitTS        Instant       // RACK.xmit_ts: latest transmit time of a delivered segment
	endSeq        Seq           // RACK.end_seq
	rtt           time.Duration // RACK.rtt
	fack          Seq           // RACK.fack: highest end of a delivered segment
	dsackRound    Seq           // RACK.dsack_round, when rackDSACKRound
	minRTT        minmax        // RACK.min_RTT over a 300 s window (Linux tcp_min_rtt)
	reoWndMult    uint8         // RACK.reo_wnd_mult (0 counts as 1)
	reoWndPersist uint8         // RACK.reo_wnd_persist
	flags         rackFlags
	lostRetrans   uint32 // retransmissions detectLoss found lost (a counter)
}

// rackKept is what RACK keeps in the TCB while the connection holds no
// sendState between flights (TCB.releaseSender): min_RTT's best sample
// (the window restarts from it; Linux keeps the filter's three) and the
// reordering window's state (RFC 8985 §6.2 step 4).
type rackKept struct {
	minRTTAt      Instant
	minRTT        uint32 // µs; 0: no sample
	reoWndMult    uint8
	reoWndPersist uint8
	reorderSeen   bool
}

// keep saves what outlives the flight into kp.
func (k *rack) keep(kp *rackKept) {
	*kp = rackKept{reoWndMult: k.reoWndMult, reoWndPersist: k.reoWndPersist, reorderSeen: k.flags&rackReorderSeen != 0}
	if v := k.minRTT.get(); v != 0 {
		kp.minRTTAt = Instant(k.minRTT.s[0].t)
		kp.minRTT = uint32(min(max(time.Duration(v)/time.Microsecond, 1), 1<<32-1))
	}
}

// restore starts a fresh rack from kp.
func (k *rack) restore(kp *rackKept) {
	k.reoWndMult, k.reoWndPersist = kp.reoWndMult, kp.reoWndPersist
	if kp.reorderSeen {
		k.flags |= rackReorderSeen
	}
	if kp.minRTT != 0 {
		k.minRTT.reset(int64(kp.minRTTAt), uint64(time.Duration(kp.minRTT)*time.Microsecond))
	}
}

type rackFlags uint8

const (
	rackValid       rackFlags = 1 << iota // xmitTS/endSeq hold a delivered segment
	rackAdvanced                          // RACK moved on this ACK: run detectLoss
	rackDSACKRound                        // dsackRound is set
	rackReorderSeen                       // RACK.reordering_seen
)

// minRTTWindow is how long a min_RTT sample stands (Linux
// tcp_min_rtt_wlen, 300 s).
const minRTTWindow = 300 * time.Second

// sampleRTT feeds an RTT sample to min_RTT.
func (k *rack) sampleRTT(r time.Duration, now Instant) {
	k.minRTT.updateMin(int64(now), int64(minRTTWindow), uint64(r))
}

// minRTTOr returns min_RTT, or d before any sample.
func (k *rack) minRTTOr(d time.Duration) time.Duration {
	if v := k.minRTT.get(); v != 0 {
		return time.Duration(v)
	}
	return d
}

// sentAfter is RACK_sent_after (RFC 8985 §6.2): t1/seq1 was sent after
// t2/seq2 (ties, as after a go-back, broken by sequence).
func sentAfter(t1 Instant, seq1 Seq, t2 Instant, seq2 Seq) bool {
	return t1 > t2 || t1 == t2 && seq1.GreaterThan(seq2)
}

// delivered is RFC 8985 §6.2 steps 2 and 3 for one newly delivered
// (cumulatively or selectively acknowledged) record. ecrEnd is the first
// instant whose timestamp is later than the ACK's TSecr (Never when the
// ACK echoes none). It reports whether the record gave a RACK RTT.
func (k *rack) delivered(r *txRecord, now, ecrEnd Instant) bool {
	end := r.end()
	// Step 3: a segment delivered below one delivered before, and never
	// retransmitted, arrived out of order.
	if k.flags&rackValid == 0 || end.GreaterThan(k.fack) {
		k.fack = end
	} else if end.LessThan(k.fack) && r.flags&txRetrans == 0 {
		k.flags |= rackReorderSeen
	}
	rtt := now.Sub(r.xmit)
	if r.flags&txRetrans != 0 {
		// Step 2: the ACK may be for the original transmission: its echo
		// predates the retransmission, or it came back sooner than any
		// round trip could (then the retransmission was likely spurious).
		if r.xmit >= ecrEnd || rtt < k.minRTTOr(0) {
			return false
		}
	}
	if k.flags&rackValid == 0 || !sentAfter(k.xmitTS, k.endSeq, r.xmit, end) {
		// RACK.rtt follows the most recently sent delivered segment,
		// which is what processing in xmit_ts order leaves it at.
		k.xmitTS, k.endSeq, k.rtt = r.xmit, end, rtt
		k.flags |= rackValid | rackAdvanced
	}
	return true
}

// updateReoWnd is RFC 8985 §6.2 step 4 for one ACK: dsack says it
// carried a D-SACK, recoveryEnded that it ended a fast or RTO recovery.
// una and nxt are SND.UNA and SND.NXT after it.
func (k *rack) updateReoWnd(dsack, recoveryEnded bool, una, nxt Seq) {
	if k.flags&rackDSACKRound != 0 && una.GreaterEq(k.dsackRound) {
		k.flags &^= rackDSACKRound
	}
	switch {
	case k.flags&rackDSACKRound == 0 && dsack:
		// A round with D-SACKs: the window was too small. Grow it once
		// per round, and keep it for 16 recoveries free of them.
		k.flags |= rackDSACKRound
		k.dsackRound = nxt
		k.reoWndMult = min(max(k.reoWndMult, 1)+1, 255)
		k.reoWndPersist = 16
	case recoveryEnded && k.reoWndPersist > 0:
		k.reoWndPersist--
		if k.reoWndPersist == 0 {
			k.reoWndMult = 1
		}
	}
}

// reoWnd is RACK.reo_wnd (RFC 8985 §6.2 step 4): zero until reordering
// has been seen when in recovery or with DupThresh segments SACKed
// (then RACK acts like the duplicate-ACK rule), else
// reo_wnd_mult*min_RTT/4, capped by SRTT.
func (k *rack) reoWnd(inRecovery bool, sackedSegs, dupThresh uint32, srtt time.Duration) time.Duration {
	if k.flags&rackReorderSeen == 0 && (inRecovery || sackedSegs >= dupThresh) {
		return 0
	}
	return min(time.Duration(max(k.reoWndMult, 1))*k.minRTTOr(srtt)/4, srtt)
}

// detectLoss is RFC 8985 §6.2 step 5 (and the reordering timer's work,
// §6.3): every record sent before the RACK segment by more than
// RACK.rtt + reoWnd is marked lost. It returns how many it marked and
// the time until the next one would be (0: none pending), for the
// RACK reordering timer.
func (k *rack) detectLoss(q *txQueue, reoWnd time.Duration, now Instant) (lost int, timeout time.Duration) {
	k.flags &^= rackAdvanced
	if k.flags&rackValid == 0 {
		return 0, 0
	}
	for i := range q.n {
		r := q.at(i)
		if r.flags&txSACKed != 0 || r.flags&(txLost|txRxtOut) == txLost {
			continue // delivered, or lost already and awaiting retransmission
		}
		if !sentAfter(k.xmitTS, k.endSeq, r.xmit, r.end()) {
			if r.flags&txRetrans == 0 {
				// First transmissions go out in sequence order: every
				// record above this one was sent after RACK's too.
				break
			}
			continue
		}
		remaining := r.xmit.Add(k.rtt + reoWnd).Sub(now)
		if remaining <= 0 {
			if r.flags&txRxtOut != 0 {
				k.lostRetrans++
			}
			q.set(r, r.flags&^txRxtOut|txLost)
			lost++
		} else {
			timeout = max(timeout, remaining)
		}
	}
	return lost, timeout
}

// onRTO marks what RFC 8985 §6.3 calls lost when the RTO fires: the
// first unacknowledged segment, and every segment sent at least RACK.rtt
// ago (Linux tcp_timeout_mark_lost). It returns how many it marked.
func (k *rack) onRTO(q *txQueue, now Instant) int {
	lost := 0
	for i := range q.n {
		r := q.at(i)
		if r.flags&txSACKed != 0 {
			continue
		}
		if i == 0 || k.flags&rackValid != 0 && r.xmit.Add(k.rtt) <= now {
			if r.flags&(txLost|txRxtOut) != txLost {
				lost++
			}
			q.set(r, r.flags&^txRxtOut|txLost)
		}
	}
	return lost
}

// tlp is the tail loss probe state (RFC 8985 §7).
type tlp struct {
	endSeq    Seq  // TLP.end_seq: SND.NXT after the probe
	out       bool // TLP.end_seq is set: a probe episode is open
	isRetrans bool // TLP.is_retrans: the probe resent old data
}

// tlpAllowed is RFC 8985 §7.2's condition for arming the PTO instead of
// the RTO: SACK in use, an RTT sample, not in fast recovery nor after an
// RTO (Linux: only in the Open/Disorder states), and no probe episode
// open.
func tlpAllowed(sack, haveRTT, inRecovery, afterRTO, probeOut bool) bool {
	return sack && haveRTT && !inRecovery && !afterRTO && !probeOut
}

// ptoFor is RFC 8985 §7.2's PTO: 2*SRTT, plus the worst-case delayed
// ACK when a single segment is in flight (its ACK may be delayed), else
// two ticks of slack (Linux TCP_TIMEOUT_MIN), at least 10 ms (Linux
// before 4.20); 1 s without an SRTT; never later than the RTO would
// fire (rtoLeft).
func ptoFor(srtt time.Duration, oneSegment bool, rtoLeft time.Duration) time.Duration {
	pto := time.Second
	if srtt > 0 {
		pto = 2 * srtt
		if oneSegment {
			pto += wcDelAckT
		} else {
			pto += 2 * time.Millisecond
		}
		pto = max(pto, 10*time.Millisecond)
	}
	return min(pto, rtoLeft)
}

// probeNew is RFC 8985 §7.3's choice of the probe: a new segment when
// there is unsent data and the peer's window takes it, else the last
// segment sent again.
func probeNew(unsent, mss uint32, sndNxt, wndEdge Seq) bool {
	return unsent > 0 && sndNxt.Add(min(unsent, mss)).LessEq(wndEdge)
}

// sent opens a probe episode (§7.3): TLP.end_seq = SND.NXT after it.
func (p *tlp) sent(nxt Seq, retrans bool) {
	p.endSeq, p.out, p.isRetrans = nxt, true, retrans
}

// onAck is TLP_process_ack (RFC 8985 §7.4.2). dsackEnd is the D-SACK
// block's end (0 with none); dupNoSACK whether the ACK is a duplicate
// without SACK blocks. It reports a repaired loss: the congestion
// controller must reduce as for a fast recovery (the probe fixed a loss
// that no recovery saw).
func (p *tlp) onAck(ack Seq, dsackEnd Seq, dupNoSACK bool) (loss bool) {
	if !p.out || ack.LessThan(p.endSeq) {
		return false
	}
	switch {
	case !p.isRetrans:
		// New data probed and delivered: nothing was learned of a loss.
	case dsackEnd == p.endSeq:
		// The probe's retransmission was a duplicate: no loss.
	case ack.GreaterThan(p.endSeq), dupNoSACK:
		loss = true // the probe repaired the only loss
	default:
		return false // wait for the ACK that tells
	}
	p.out = false
	return loss
}
