package tcp

import (
	"testing"
	"time"
)

const ms = Instant(time.Millisecond)

// flight pushes n segments of 1000 octets from seq 0, one per
// millisecond from start.
func flight(q *txQueue, n int, start Instant) {
	for i := range n {
		q.push(Seq(i*1000), 1000, start+Instant(i)*ms, 1<<20)
	}
}

// deliver SACKs [l, r) through RACK at now.
func (k *rack) sackAt(q *txQueue, l, r Seq, now Instant) {
	q.sack(l, r, func(x *txRecord) { k.delivered(x, now, Never) })
}

func TestTxQueueRecords(t *testing.T) {
	var q txQueue
	flight(&q, 20, 0)
	if q.n != 20 || len(q.recs) != 32 {
		t.Fatalf("n %d cap %d, want 20 records in a ring of 32", q.n, len(q.recs))
	}
	if i := q.find(4500); i != 4 {
		t.Fatalf("find(4500) = %d, want 4", i)
	}
	if i := q.find(20000); i != -1 {
		t.Fatalf("find beyond SND.MAX = %d", i)
	}
	var got []Seq
	q.sack(2500, 5000, func(x *txRecord) { got = append(got, x.seq) })
	if len(got) != 2 || got[0] != 3000 || got[1] != 4000 || q.sacked != 2000 {
		t.Fatalf("SACK [2500,5000) delivered %v (%d octets SACKed), want the records at 3000 and 4000 (2000 only partly covered)", got, q.sacked)
	}
	var k rack
	k.sackAt(&q, 5000, 6000, 10*ms)
	if n, _ := k.detectLoss(&q, 0, 10*ms); n != 3 || q.lost != 3000 {
		t.Fatalf("%d marked lost, %d octets awaiting retransmission; want 0-2 (not 3-4, SACKed): 3000", n, q.lost)
	}
	q.retransmitted(1000, 2000, 11*ms, nil)
	if q.lost != 2000 || q.sacked != 3000 {
		t.Fatalf("after a retransmission: lost %d sacked %d", q.lost, q.sacked)
	}
	got = got[:0]
	q.ackTo(4500, func(x *txRecord) { got = append(got, x.seq) })
	if len(got) != 3 || q.at(0).seq != 4500 || q.at(0).n != 500 {
		t.Fatalf("ACK 4500: delivered %v, head %d+%d; want 0,1000,2000 newly, head trimmed to 4500+500", got, q.at(0).seq, q.at(0).n)
	}
	q.ackTo(20000, func(*txRecord) {})
	if q.n != 0 || q.recs == nil || q.lost != 0 || q.sacked != 0 {
		t.Fatalf("after the full ACK n=%d; a small ring must be kept for reuse", q.n)
	}
	// At the bound a new segment joins the last record (fresh xmit).
	for i := range 20 {
		q.push(Seq(i*1000), 1000, Instant(i)*ms, 16)
	}
	if q.n != 16 || q.last().n != 5000 || q.last().xmit != 19*ms {
		t.Fatalf("bounded ring: n %d last %d octets at %v", q.n, q.last().n, q.last().xmit)
	}
	// A large ring is freed when the flight drains.
	var big txQueue
	flight(&big, 300, 0)
	big.ackTo(300000, func(*txRecord) {})
	if big.recs != nil {
		t.Fatal("a ring beyond txQueueKeep records must be freed when empty")
	}
}

// RFC 8985 §6.2 step 5: a segment is lost once RACK.rtt + reo_wnd has
// passed since its transmission while a later one was delivered; until
// then the reordering timer covers it.
func TestRACKLossByTime(t *testing.T) {
	var q txQueue
	var k rack
	k.sampleRTT(40*time.Millisecond, 0)
	flight(&q, 5, 0)
	k.sackAt(&q, 2000, 3000, 50*ms) // RACK.rtt = 48 ms
	if k.rtt != 48*time.Millisecond || k.endSeq != 3000 {
		t.Fatalf("RACK rtt %v end %d", k.rtt, k.endSeq)
	}
	reo := k.reoWnd(false, 1, 3, 45*time.Millisecond)
	if reo != 10*time.Millisecond {
		t.Fatalf("reo_wnd %v, want min_RTT/4", reo)
	}
	lost, to := k.detectLoss(&q, reo, 50*ms)
	if lost != 0 || to != 9*time.Millisecond {
		t.Fatalf("at 50 ms: lost %d, timer %v; want none yet and a timer for the latest pending, 9 ms", lost, to)
	}
	lost, to = k.detectLoss(&q, reo, 58*ms)
	if lost != 1 || to != time.Millisecond || q.nextLost(0) != 0 {
		t.Fatalf("at 58 ms: lost %d timer %v first lost %d; want segment 0 lost, segment 1 in 1 ms", lost, to, q.nextLost(0))
	}
	// Segments sent after the RACK segment are never judged by it.
	if q.at(3).flags&txLost != 0 || q.at(4).flags&txLost != 0 {
		t.Fatal("segments sent after RACK.xmit_ts marked lost")
	}
}

// RFC 8985 §6.2 step 4: reo_wnd is zero in recovery, or with DupThresh
// segments SACKed, until reordering is seen; a D-SACK round grows it,
// capped by SRTT; sixteen D-SACK-free recoveries reset it.
func TestRACKReorderingWindow(t *testing.T) {
	var q txQueue
	var k rack
	srtt := 100 * time.Millisecond
	k.sampleRTT(40*time.Millisecond, 0)
	if w := k.reoWnd(true, 0, 3, srtt); w != 0 {
		t.Fatalf("in recovery without reordering: reo_wnd %v", w)
	}
	if w := k.reoWnd(false, 3, 3, srtt); w != 0 {
		t.Fatalf("DupThresh SACKed without reordering: reo_wnd %v", w)
	}
	flight(&q, 4, 0)
	k.sackAt(&q, 2000, 3000, 50*ms)
	k.sackAt(&q, 1000, 2000, 51*ms) // below RACK.fack, never retransmitted
	if k.flags&rackReorderSeen == 0 {
		t.Fatal("a delivery below RACK.fack did not count as reordering")
	}
	if w := k.reoWnd(true, 3, 3, srtt); w != 10*time.Millisecond {
		t.Fatalf("reordering seen, in recovery: reo_wnd %v, want min_RTT/4", w)
	}
	k.updateReoWnd(true, false, 0, 4000)
	k.updateReoWnd(true, false, 1000, 4000) // same round: no second step
	if w := k.reoWnd(false, 0, 3, srtt); w != 20*time.Millisecond {
		t.Fatalf("after one D-SACK round reo_wnd %v, want 2*min_RTT/4", w)
	}
	for r := range 10 {
		k.updateReoWnd(true, false, Seq(4000+r*1000), Seq(5000+r*1000))
	}
	if w := k.reoWnd(false, 0, 3, srtt); w != srtt {
		t.Fatalf("after 11 D-SACK rounds reo_wnd %v, want SRTT's cap", w)
	}
	for range 15 {
		k.updateReoWnd(false, true, 20000, 20000)
	}
	if k.reoWndMult == 1 {
		t.Fatal("reset before 16 recoveries")
	}
	k.updateReoWnd(false, true, 20000, 20000)
	if w := k.reoWnd(false, 0, 3, srtt); w != 10*time.Millisecond {
		t.Fatalf("after 16 D-SACK-free recoveries reo_wnd %v, want min_RTT/4", w)
	}
}

// RFC 8985 §6.2 step 2: an ACK of a retransmitted segment that echoes a
// timestamp older than the retransmission, or comes back in less than
// min_RTT, is for the original: it gives no RACK RTT.
func TestRACKRetransmittedAmbiguity(t *testing.T) {
	var q txQueue
	var k rack
	k.sampleRTT(40*time.Millisecond, 0)
	flight(&q, 2, 0)
	q.retransmitted(0, 1000, 30*ms, nil)
	r := q.at(0)
	if k.delivered(r, 35*ms, Never) {
		t.Fatal("5 ms after the retransmission (min_RTT 40 ms): took an RTT")
	}
	if k.delivered(r, 80*ms, 20*ms) {
		t.Fatal("echo from before the retransmission: took an RTT")
	}
	if !k.delivered(r, 80*ms, 31*ms) || k.rtt != 50*time.Millisecond {
		t.Fatalf("echo of the retransmission: rtt %v, want 50 ms", k.rtt)
	}
}

// RFC 8985 §6.2: a lost retransmission is detected by time like any
// segment: data sent after it was delivered and RACK.rtt passed.
func TestRACKLostRetransmission(t *testing.T) {
	var q txQueue
	var k rack
	k.sampleRTT(40*time.Millisecond, 0)
	flight(&q, 4, 0)
	k.sackAt(&q, 1000, 4000, 45*ms)
	reo := k.reoWnd(true, 3, 3, 40*time.Millisecond) // recovery, no reordering: 0
	if lost, _ := k.detectLoss(&q, reo, 45*ms); lost != 1 {
		t.Fatalf("lost %d, want segment 0", lost)
	}
	q.retransmitted(0, 1000, 46*ms, nil)
	q.push(4000, 1000, 47*ms, 1<<20)
	if q.nextLost(0) != -1 {
		t.Fatal("retransmitted segment still awaiting retransmission")
	}
	k.sackAt(&q, 4000, 5000, 90*ms) // new data sent after the retransmission
	lost, to := k.detectLoss(&q, reo, 90*ms)
	if lost != 1 || to != 0 || q.nextLost(0) != 0 {
		t.Fatalf("lost %d timer %v: the retransmission of 0 (sent before 4000, RACK.rtt ago) must be lost again", lost, to)
	}
}

// RFC 8985 §6.3: on RTO, the first segment and everything sent RACK.rtt
// ago are lost; SACKed segments are not.
func TestRACKOnRTO(t *testing.T) {
	var q txQueue
	var k rack
	flight(&q, 4, 0)
	if n := k.onRTO(&q, 10*ms); n != 1 {
		t.Fatalf("without RACK state: %d lost, want the head only", n)
	}
	k.sackAt(&q, 1000, 2000, 20*ms) // RACK.rtt 19 ms
	q.push(4000, 1000, 15*ms, 1<<20)
	if n := k.onRTO(&q, 22*ms); n != 2 {
		t.Fatalf("lost %d, want 2000 and 3000 (sent >= 19 ms ago); 0 already lost, 1000 SACKed, 4000 recent", n)
	}
	if q.at(1).flags&txLost != 0 || q.at(4).flags&txLost != 0 {
		t.Fatal("SACKed or recent segment marked lost")
	}
}

// D-SACK of a retransmitted record counts toward the undo; an undo
// clears the lost marks.
func TestRACKSpuriousHooks(t *testing.T) {
	var q txQueue
	flight(&q, 3, 0)
	q.retransmitted(1000, 2000, 5*ms, nil)
	if n := q.dsacked(0, 3000); n != 1 {
		t.Fatalf("D-SACK over three records, one retransmitted: %d", n)
	}
	var k rack
	k.onRTO(&q, 100*ms)
	q.unmarkLost()
	if q.nextLost(0) != -1 {
		t.Fatal("lost marks survive the undo")
	}
}

// RFC 8985 §7.2-7.4: when the PTO may be armed, its value, the probe's
// choice and the end of the probe episode.
func TestTLP(t *testing.T) {
	if !tlpAllowed(true, true, false, false, false) {
		t.Fatal("TLP refused in the open state")
	}
	for i, c := range [][5]bool{
		{false, true, false, false, false}, // no SACK
		{true, false, false, false, false}, // no RTT
		{true, true, true, false, false},   // in recovery
		{true, true, false, true, false},   // after an RTO
		{true, true, false, false, true},   // probe outstanding
	} {
		if tlpAllowed(c[0], c[1], c[2], c[3], c[4]) {
			t.Fatalf("case %d: TLP allowed", i)
		}
	}
	if p := ptoFor(50*time.Millisecond, false, time.Second); p != 102*time.Millisecond {
		t.Fatalf("PTO %v, want 2*SRTT + 2 ms", p)
	}
	if p := ptoFor(50*time.Millisecond, true, time.Second); p != 300*time.Millisecond {
		t.Fatalf("one segment: PTO %v, want 2*SRTT + WCDelAckT", p)
	}
	if p := ptoFor(50*time.Millisecond, true, 250*time.Millisecond); p != 250*time.Millisecond {
		t.Fatalf("PTO %v beyond the RTO", p)
	}
	if p := ptoFor(0, false, 3*time.Second); p != time.Second {
		t.Fatalf("no SRTT: PTO %v, want 1 s", p)
	}
	if !probeNew(5000, 1000, 10000, 20000) || probeNew(5000, 1000, 19500, 20000) || probeNew(0, 1000, 0, 20000) {
		t.Fatal("probe choice: new data only when queued and inside the window")
	}

	var p tlp
	p.sent(10000, true)
	if p.onAck(9000, 0, false) || !p.out {
		t.Fatal("an ACK below TLP.end_seq closed the episode")
	}
	if p.onAck(10000, 0, false) || !p.out {
		t.Fatal("ACK at end_seq with SACK: must wait")
	}
	if p.onAck(10000, 10000, false) || p.out {
		t.Fatal("D-SACK of the probe: the episode ends without loss")
	}
	p.sent(10000, true)
	if !p.onAck(11000, 0, false) || p.out {
		t.Fatal("ACK beyond the probe: a repaired loss")
	}
	p.sent(10000, true)
	if !p.onAck(10000, 0, true) {
		t.Fatal("duplicate ACK without SACK: a repaired loss")
	}
	p.sent(10000, false)
	if p.onAck(12000, 0, false) || p.out {
		t.Fatal("a new-data probe delivered: no loss, episode over")
	}
}
