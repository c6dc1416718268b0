package tcp

import (
	"io"
	"time"
)

// Receive side: in-order delivery into the receive ring, reassembly of
// out-of-order text in the ring's free space (so the reassembly queue is
// bounded by the buffer, in bytes), SACK blocks (RFC 2018), delayed ACKs
// (RFC 9293 §3.8.6.3, RFC 5681 §4.2) and window updates.

// Out-of-order ranges. The octets themselves sit in the receive ring's
// free space, so the buffer bounds them in bytes; the ranges describing
// them are bounded in number: the storage (ranges.go) is taken from the
// loop's pool with the first range and given back with the last; it
// holds 8, and past that one array of Config.MaxOOORanges, allocated the
// first time a connection needs it and kept with the storage in the pool
// (a 4 MiB window at 1% loss holds ~30 holes, under reordering
// hundreds: with 8 ranges the receiver dropped thousands of in-window
// segments a transfer and the peer had to send them again). A segment
// that would need a range beyond the bound is dropped and counted
// (Stats.OOODropped); the peer retransmits it.
const (
	// DefaultMaxOOORanges is Config.MaxOOORanges' default: 2 KiB of
	// ranges at most per connection, allocated only when needed.
	DefaultMaxOOORanges = 256
	maxOOORangesLimit   = 1 << 16
)

type oooRange struct{ l, r Seq }

// oooQueue lists the out-of-order ranges [l, r) held beyond RCV.NXT,
// sorted by l, non-overlapping, non-adjacent.
type oooQueue struct {
	s      *rangeSet // the ranges' storage; nil while none is held
	n      int
	latest int32 // index of the range holding the latest segment (SACK order)
	fin    Seq   // a FIN seen beyond RCV.NXT (flagPeerFinOOO)
}

// slots returns the storage of the ranges: r[:n] are in use.
func (q *oooQueue) slots() []oooRange { return q.s.slots() }

// clear forgets every range; the storage stays for the owner to give
// back (TCB.putRanges) or reuse.
func (q *oooQueue) clear() { *q = oooQueue{s: q.s} }

// maxOOORanges is the configured bound on out-of-order ranges.
func (c *Config) maxOOORanges() int {
	switch {
	case c.MaxOOORanges <= 0:
		return DefaultMaxOOORanges
	case c.MaxOOORanges < rangeInline:
		return rangeInline
	}
	return min(c.MaxOOORanges, maxOOORangesLimit)
}

// add merges [l, r) into the queue; false if it needs a new range and
// there is no room within limit ranges.
func (q *oooQueue) add(l, r Seq, limit int) bool {
	rs := q.slots()
	// Ranges are sorted: find the first that ends at or after l.
	i, hi := 0, q.n
	for i < hi {
		m := int(uint(i+hi) >> 1)
		if rs[m].r.LessThan(l) {
			i = m + 1
		} else {
			hi = m
		}
	}
	// Ranges i.. end at or after l. Merge every range that touches [l, r).
	j := i
	for j < q.n && rs[j].l.LessEq(r) {
		if rs[j].l.LessThan(l) {
			l = rs[j].l
		}
		if rs[j].r.GreaterThan(r) {
			r = rs[j].r
		}
		j++
	}
	if j == i { // no overlap: insert at i
		if q.n == len(rs) {
			if q.n >= limit {
				return false
			}
			// Grow once, from the inline slots to the configured bound.
			rs = q.s.grow(q.n, limit)
		}
		copy(rs[i+1:q.n+1], rs[i:q.n])
		q.n++
	} else if j > i+1 { // merged several: close the gap
		copy(rs[i+1:], rs[j:q.n])
		q.n -= j - i - 1
	}
	rs[i].l, rs[i].r = l, r
	q.latest = int32(i)
	return true
}

// addOOO records out-of-order text [l, r), taking the queue's storage
// from the pool for its first range; false if no range was free.
func (t *TCB) addOOO(l, r Seq) bool {
	t.rangesOf(&t.ooo.s)
	return t.ooo.add(l, r, t.cfg.maxOOORanges())
}

// noteDSACK records [l, r), text received again, for the next ACK's
// first SACK block (RFC 2883 §4).
func (t *TCB) noteDSACK(l, r Seq) {
	if t.has(flagSACK) && l.LessThan(r) {
		t.dsack, t.dsackL, t.dsackR = true, l, r
	}
}

// sackBlocks fills o's SACK blocks: a D-SACK block first if dsack is
// set (RFC 2883 §4), then the range with the latest segment (RFC 2018
// §4), then the others in sequence order.
func (q *oooQueue) sackBlocks(o *Options, dsack bool, dl, dr Seq) {
	max := MaxSACKBlocks
	if o.HasTS {
		max = 3 // 40 option octets: 12 for timestamps, 4+3*8 for SACK
	}
	k := 0
	if dsack {
		o.SACK[0] = SACKBlock{Left: uint32(dl), Right: uint32(dr)}
		k = 1
	}
	rs := q.slots()
	if int(q.latest) < q.n {
		o.SACK[k] = SACKBlock{Left: uint32(rs[q.latest].l), Right: uint32(rs[q.latest].r)}
		k++
	}
	for i := 0; i < q.n && k < max; i++ {
		if i == int(q.latest) {
			continue
		}
		o.SACK[k] = SACKBlock{Left: uint32(rs[i].l), Right: uint32(rs[i].r)}
		k++
	}
	o.NumSACK = uint8(k)
}

// inputText is the seventh check: place text in the receive buffer and
// decide when to acknowledge. It returns true when the connection was
// reset (text after a full close).
func (t *TCB) inputText(seg *Segment, seq Seq, now Instant) bool {
	switch t.state {
	case Established, FinWait1, FinWait2:
	default:
		// CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT: "should not occur,
		// since a FIN has been received"; ignore the text.
		return false
	}
	if t.has(flagOrphan) {
		// Text for an application that closed fully cannot be delivered:
		// reset, as Linux does (RFC 2525 §2.17, RFC 1122 4.2.2.13), in
		// reply to the segment: SEQ=SEG.ACK, which is the peer's RCV.NXT
		// even while our FIN is unacknowledged (SND.NXT would be one
		// past it: in the window but not exact, so RFC 5961 §3.2 would
		// have the peer answer with a challenge ACK instead of closing).
		t.replyReset(seg)
		t.closeWith(ErrAborted)
		return true
	}
	p := seg.Payload
	// No slice Peek returned before a Consume can be live here (OnData
	// runs after Input): consumed receive chunks may be reused.
	t.rcv.q.Pool().Recycle()
	t.rcvRTTSample(seg, now)
	if seq.LessThan(t.rcvNxt) { // trim the old front
		k := t.rcvNxt.Sub(seq)
		t.noteDSACK(seq, seq.Add(min(k, uint32(len(p)))))
		if k >= uint32(len(p)) {
			t.sendACK(now)
			return false
		}
		p, seq = p[k:], t.rcvNxt
	}
	off := seq.Sub(t.rcvNxt)
	limit := min(t.rcvWnd(), uint32(t.rcv.free()))
	if off >= limit {
		t.Drops++
		t.sendACK(now)
		return false
	}
	p = p[:min(uint32(len(p)), limit-off)]
	if off > 0 {
		// Out of order: keep it in the ring's free space, ACK at once
		// (RFC 5681 §4.2: a duplicate ACK, with SACK blocks).
		// Stored first: the budget may refuse chunks; only what was
		// stored is a range (the peer retransmits the rest).
		if w := t.rcv.writeAt(int(off), p); w == 0 || !t.addOOO(seq, seq.Add(uint32(w))) {
			t.Drops++
			t.count().OOODropped++
		}
		t.sendACK(now)
		return false
	}
	hadGap := t.ooo.n > 0
	prevRcvMs := t.rcvDataMs
	t.measureRcvMSS(len(seg.Payload), now)
	w := t.rcv.append(p, seg.Hold && !hadGap)
	if w < len(p) && hadGap {
		// The budget refused a chunk: drop the out-of-order text, never
		// acknowledged text, to make room for this in-order text (Linux
		// tcp_prune_ofo_queue; the peer resends what its SACKs no
		// longer show, RFC 2018 §8).
		t.pruneOOO()
		w += t.rcv.append(p[w:], false)
		hadGap = false
	}
	if w < len(p) {
		t.Drops++
		t.count().MemDropped++
		if w == 0 {
			t.sendACK(now)
			return false
		}
		p = p[:w]
	}
	t.rcvNxt = t.rcvNxt.Add(uint32(len(p)))
	t.mergeOOO()
	t.events |= EventReadable
	t.notePushed(seg, prevRcvMs)
	t.ackPending += uint32(len(p))
	// An immediate ACK is sent at the end of Input, so that one ACK
	// covers this text, a FIN behind it and any text we send back.
	switch {
	case hadGap:
		// Filling a hole is acknowledged at once (RFC 5681 §4.2).
		t.flags |= flagAckNow
	case t.quickAcks > 0:
		t.quickAcks--
		t.flags |= flagAckNow
	case t.ackPending > t.rcvMSS() && (!seg.More || t.ackPending >= maxStretch):
		// More than one full segment unacknowledged, as Linux's
		// __tcp_ack_snd_check: so at least every second full-sized
		// segment (RFC 9293 §3.8.6.3), and every second one of a sender
		// whose segments are shorter than a full one, or each segment
		// larger than one. A run received together (Segment.More)
		// counts as one, as a Linux receiver ACKs a GRO-merged run
		// once: twice the ACKs cost the sender and every hop twice the
		// frames and tell it nothing new.
		t.flags |= flagAckNow
	case t.rcvWnd() < t.rcvMSS():
		// The text (nearly) closed the window we offered: say so now,
		// so that the sender stops or starts probing without waiting
		// for the delayed ACK.
		t.flags |= flagAckNow
	default:
		if t.delackAt == Never {
			t.delackAt = now.Add(t.cfg.DelayedACK)
		}
	}
	return false
}

// maxStretch bounds the text one ACK of a received run covers: Linux's
// GRO merges at most 64 KiB into one segment.
const maxStretch = 64 << 10

// rcvMSS is the size of a full segment from the peer, as Linux's rcv_mss
// (tcp_measure_rcv_mss): the largest text seen in one segment, at most
// our MSS, starting from 536 (TCP_MSS_DEFAULT). Our own MSS would be too
// big a guess: a jumbo-MTU server ACKed a 1448-octet sender every ~12
// segments instead of every second one (issue 14 item 9).
func (t *TCB) rcvMSS() uint32 {
	if t.rcvMSSEst != 0 {
		return uint32(t.rcvMSSEst)
	}
	return min(uint32(t.cfg.MSS), 536)
}

// measureRcvMSS takes the text length of an in-order segment into
// rcvMSS, and restarts quick ACKs after the peer was silent for an RTO
// (Linux tcp_event_data_recv: the sender is in slow start again).
func (t *TCB) measureRcvMSS(n int, now Instant) {
	if uint32(n) > t.rcvMSS() {
		t.rcvMSSEst = uint16(min(n, int(t.cfg.MSS)))
	}
	ms := msClock(now)
	if t.rcvDataMs != 0 && time.Duration(ms-t.rcvDataMs)*time.Millisecond > t.rto {
		// Linux tcp_incr_quickack: half the window in segments, 2 to 16.
		q := min(max(t.rcvWnd()/(2*t.rcvMSS()), 2), 16)
		t.quickAcks = max(t.quickAcks, uint8(q))
	}
	t.rcvDataMs = ms
}

// Pushed text. A sender's flight often ends with a segment shorter
// than a full one, or a full one with PSH (the end of a write): nothing
// follows it soon, and a delayed ACK holds the sender's window until the
// timer or its next flight. Linux marks such a segment
// (tcp_measure_rcv_mss: ICSK_ACK_PUSHED; ICSK_ACK_PUSHED2 for a second
// one) and, once the application has read everything, sends the ACK it
// delayed (tcp_cleanup_rbuf) unless the connection is interactive
// (pingpong), where the answer carries it. Holding it cost 1%-loss
// uploads 1-4% of Linux's goodput (bench/README.md, wan): the sender's
// RTT grew by the time its last segment waited. Delaying an ACK is a
// SHOULD bounded by 0.5 s (RFC 9293 §3.8.6.3); sending it earlier is
// always allowed.
//
// flagAckPushed marks pushed text not yet acknowledged. The 16 flag bits
// are taken: it shares flagSynOnly's, which serves only while our SYN
// is unacknowledged (a SYN,ACK's options), so the mark is neither set
// nor cleared then; a stale flagSynOnly read as the mark costs at most
// one early ACK.
const flagAckPushed = flagSynOnly

// notePushed marks seg's text as pushed (flagAckPushed) when it ends a
// received run (not Segment.More) and is shorter than a full segment,
// or full with PSH, FIN or URG (Linux's TCP_REMNANT), and the
// connection is not interactive. prevRcvMs is
// the msClock of the text received before seg (0: none).
//
// Interactive stands in for Linux's pingpong mode, entered when the
// host sends text within the delayed-ACK timeout of receiving
// (tcp_event_data_sent): here, when our last text went out within
// Config.DelayedACK after the peer's previous text, that is, it
// answered it. Then the peer's next text is likely answered too, and
// the answer carries the ACK. As Linux's ICSK_ACK_PUSHED2, a second
// pushed segment while short text waits unacknowledged is marked even
// then. A bulk sender's text is never answered: it is not interactive.
func (t *TCB) notePushed(seg *Segment, prevRcvMs uint32) {
	if t.sndUna == t.iss {
		return // flagSynOnly's time
	}
	if t.ackPending == 0 || seg.More {
		// An ACK covered what came before, or more of the run follows:
		// the run's last segment decides, as Linux measures a
		// GRO-merged run once. Marked at each PSH of a run, sluice
		// ACKed a Linux sender's writes of two segments each (PSH on
		// every second one) at each of them: twice the ACKs.
		t.flags &^= flagAckPushed
		if seg.More {
			return
		}
	}
	n := uint32(len(seg.Payload))
	if n >= t.rcvMSS() && seg.Flags&(FlagPSH|FlagFIN|FlagURG) == 0 {
		return
	}
	pushed2 := t.ackPending > 0 && t.ackPending < t.rcvMSS()
	if !pushed2 && t.interactive(prevRcvMs) {
		return
	}
	t.flags |= flagAckPushed
}

// interactive reports whether our last text answered the peer's text
// received at prevRcvMs (notePushed).
func (t *TCB) interactive(prevRcvMs uint32) bool {
	if t.lastSend == 0 || prevRcvMs == 0 {
		return false
	}
	d := int32(msClock(t.lastSend) - prevRcvMs)
	return d >= 0 && time.Duration(d)*time.Millisecond <= t.cfg.DelayedACK
}

// mergeOOO moves out-of-order ranges that RCV.NXT has reached into the
// in-order part of the ring.
func (t *TCB) mergeOOO() {
	q := &t.ooo
	rs := q.slots()
	k := 0
	for k < q.n && rs[k].l.LessEq(t.rcvNxt) {
		if rs[k].r.GreaterThan(t.rcvNxt) {
			d := rs[k].r.Sub(t.rcvNxt)
			t.rcv.extend(int(d))
			t.rcvNxt = rs[k].r
		}
		k++
	}
	if k > 0 {
		copy(rs, rs[k:q.n])
		q.n -= k
		q.latest = 0
		if q.n == 0 {
			t.putRanges(&q.s) // no hole left
		}
	}
	if t.has(flagPeerFinOOO) && q.fin == t.rcvNxt {
		t.flags |= flagFinPending
	}
}

// pruneOOO forgets every out-of-order range and gives back the chunks
// past the in-order text.
func (t *TCB) pruneOOO() {
	var n uint64
	rs := t.ooo.slots()
	for i := range t.ooo.n {
		n += uint64(rs[i].r.Sub(rs[i].l))
	}
	if n > 0 {
		t.count().OOOPruned += n
	}
	t.flags &^= flagPeerFinOOO
	t.dropOOO()
}

// dropOOO forgets the out-of-order ranges and gives back the chunks past
// the in-order text.
func (t *TCB) dropOOO() {
	t.ooo.clear()
	t.putRanges(&t.ooo.s)
	t.rcv.q.Discard(t.rcv.n)
}

// flagFinPending: the out-of-order FIN became in-order during text
// processing; inputSynchronized's FIN step sees it through finReady.
const flagFinPending tcbFlags = 1 << 14

// Read copies received text into p (RFC 9293 §3.10.3 RECEIVE). It returns
// io.EOF once the peer's FIN has been read past, and the connection's
// error once it was reset.
func (t *TCB) Read(p []byte, now Instant) (int, error) {
	n := t.rcv.readAt(0, p)
	if n > 0 {
		t.Consume(n, now)
		return n, nil
	}
	if len(p) == 0 {
		return 0, nil
	}
	return 0, t.readErr()
}

func (t *TCB) readErr() error {
	if t.err != nil {
		return t.err
	}
	if t.has(flagFinRecvd) || t.state == Closed {
		return io.EOF
	}
	return nil
}

// Peek returns the received, unread text without copying, as up to two
// slices (the ring may wrap). They stay valid until Consume or Input.
func (t *TCB) Peek() (a, b []byte) { return t.rcv.peek() }

// PeekAll appends all received, unread text to dst as runs, without
// copying, and returns it; unlike Peek it is not limited to two slices.
// After Consume the runs stay valid until the next Input.
func (t *TCB) PeekAll(dst [][]byte) [][]byte { return t.rcv.q.Runs(dst) }

// Buffered is the number of octets ready to read.
func (t *TCB) Buffered() int { return t.rcv.n }

// EOF reports that the peer's FIN arrived and all text before it was read.
func (t *TCB) EOF() bool { return t.rcv.n == 0 && t.has(flagFinRecvd) }

// Consume marks n octets of Peek's text as read, freeing window. When the
// window opens enough, a window update is sent at once (RFC 9293
// §3.8.6.2.2; Linux tcp_cleanup_rbuf) so a peer stalled on a zero window
// does not have to wait for its persist timer.
//
// When the read empties the buffer while the ACK of pushed text is
// delayed, the ACK goes now (flagAckPushed above; Linux
// tcp_cleanup_rbuf). It is owed as an Input's ACK is (flagAckNow): a
// PushSink's owner sends it at its Push, after the callbacks, on the
// answer they wrote if any, so an answered request costs no bare ACK;
// another Sink gets it at once.
func (t *TCB) Consume(n int, now Instant) {
	t.rcv.consume(n)
	t.rcvAutotune(n, now)
	switch t.state {
	case Established, FinWait1, FinWait2:
	default:
		return
	}
	if n > 0 && t.rcv.n == 0 && t.ooo.n == 0 && t.delackAt != Never && t.ackPending > 0 && t.has(flagAckPushed) {
		t.flags |= flagAckNow
		t.sendACK(now)
		return
	}
	cur := t.rcvWnd()
	free := uint32(t.rcv.free())
	if t.rcv.q.Pool().UnderPressure() {
		free = t.newWindow(free, t.rcvWScale) // what advertise would offer
	}
	if free > cur && free-cur >= min(uint32(t.rcv.cap())/2, uint32(t.cfg.MSS)) && (cur == 0 || free >= 2*cur) {
		t.sendACK(now)
	}
}
