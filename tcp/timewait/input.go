package timewait

import "github.com/sluicenet/sluice/tcp"

// Input processes a segment for id against the table at now, emitting any
// reply to out. It returns NotFound when no live entry exists for id. The
// rules, in order (RFC 9293 §3.10.7.4 TIME-WAIT, as refined by Linux's
// tcp_timewait_state_process):
//
//  1. RST: ignored, the entry stays (RFC 1337 §3 remedy: an RST in
//     TIME-WAIT would let an old duplicate "assassinate" the wait).
//  2. PAWS (RFC 7323 §5.3): with timestamps in use, a segment whose TSval
//     is older than TS.Recent is an old duplicate: ACK it, drop it.
//  3. SYN without ACK: a new incarnation is accepted (the entry removed,
//     Reopen with ISN = SND.NXT + 65535 + 2) when its sequence number is
//     beyond RCV.NXT or its TSval is newer than TS.Recent (RFC 6191 §2;
//     RFC 1122 §4.2.2.13). Otherwise it is answered with an ACK (RFC 5961
//     §4: a SYN in a synchronized state gets a challenge ACK; RFC 6191
//     would drop it silently, Linux ACKs, so the peer can RST its half-
//     open attempt and retry).
//  4. The retransmitted FIN (SEG.SEQ + SEG.LEN = RCV.NXT, FIN set): ACK it
//     and restart the 2*MSL timeout (§3.10.7.4, seventh and eighth steps).
//  5. An in-window bare segment (SEG.SEQ = RCV.NXT, no text, no FIN): the
//     peer's ACK of our FIN, duplicated. No reply (Linux: answering an
//     acceptable ACK with an ACK invites an ACK loop with a confused peer).
//  6. Anything else (text, out-of-window sequence, SYN-ACK, a FIN other
//     than the one we had): ACK it (§3.10.7.4 first check: "If an incoming
//     segment is not acceptable, an acknowledgment should be sent").
//
// Only the FIN restarts the timer (RFC 9293); Linux also restarts on ACKs,
// which would let a peer pin an entry forever. TS.Recent follows RFC 7323
// §4.3 for segments that pass PAWS and cover RCV.NXT (SEG.SEQ <= RCV.NXT).
func (t *Table) Input(id *tcp.ID, seg *tcp.Segment, now tcp.Instant, out tcp.Sink) Verdict {
	ipos, s := t.lookup(id, now)
	if s < 0 {
		return Verdict{Action: NotFound}
	}
	e := t.at(s)
	f := seg.Flags
	if f&tcp.FlagRST != 0 {
		t.stats.RSTIgnored++
		return Verdict{Action: Consumed}
	}
	hasTS := e.local&fTS != 0 && seg.Options.HasTS
	if hasTS && int32(seg.Options.TSVal-e.tsRecent) < 0 {
		t.stats.PAWSRejects++
		t.ack(id, e, now, out)
		return Verdict{Action: ACKed}
	}
	if f&(tcp.FlagSYN|tcp.FlagACK) == tcp.FlagSYN {
		if seg.Seq.GreaterThan(e.rcvNxt) || (hasTS && int32(seg.Options.TSVal-e.tsRecent) > 0) {
			isn := e.sndNxt.Add(65535 + 2)
			if isn == 0 {
				isn++
			}
			t.kill(ipos, s)
			t.stats.Reopened++
			return Verdict{Action: Reopen, ISN: isn}
		}
		t.stats.SYNRejected++
		t.ack(id, e, now, out)
		return Verdict{Action: ACKed}
	}
	if hasTS && seg.Seq.LessEq(e.rcvNxt) {
		e.tsRecent = seg.Options.TSVal // PAWS passed: TSVal >= TS.Recent
	}
	switch {
	case f&(tcp.FlagFIN|tcp.FlagSYN) == tcp.FlagFIN && seg.Seq.Add(seg.Len()) == e.rcvNxt:
		t.stats.ReACKs++
		t.ack(id, e, now, out)
		t.restart(ipos, s, now)
		return Verdict{Action: ACKed}
	case f&(tcp.FlagFIN|tcp.FlagSYN) == 0 && seg.Seq == e.rcvNxt && len(seg.Payload) == 0:
		return Verdict{Action: Consumed}
	}
	t.stats.ACKs++
	t.ack(id, e, now, out)
	return Verdict{Action: ACKed}
}

// ack emits <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> with the stored window and,
// when timestamps are in use, TSval from the same clock as a TCB's (1 ms
// ticks of now plus the connection's offset, RFC 7323 §5.4) and TSecr =
// TS.Recent (RFC 7323 §4.3).
func (t *Table) ack(id *tcp.ID, e *entry, now tcp.Instant, out tcp.Sink) {
	s := &t.seg
	*s = tcp.Segment{Seq: e.sndNxt, Ack: e.rcvNxt, Flags: tcp.FlagACK, Window: e.window}
	if e.local&fTS != 0 {
		s.Options.HasTS = true
		s.Options.TSVal = uint32(now/1e6) + e.tsOffset
		s.Options.TSEcr = e.tsRecent
	}
	out.Emit(id, s)
}

// restart gives the entry at slot s a fresh 2*MSL from now: it moves to
// the ring's tail so the ring stays in expiry order.
func (t *Table) restart(ipos uint32, s int, now tcp.Instant) {
	e := *t.at(s)
	h := t.hash(&e)
	t.kill(ipos, s)
	e.expiry = now + t.life
	e.local |= fLive
	t.add(&e, h)
}
