package tcp

// Segment emission: every segment a TCB sends is built here in the TCB's
// scratch Segment (so emitting allocates nothing) and carries the current
// acknowledgment, the advertised window and the negotiated options.

// emit sends one segment from this TCB with sequence number seq.
// Every segment but a SYN without ACK carries ACK = RCV.NXT (RFC 9293
// §3.10.7.4: "once in the ESTABLISHED state all segments must carry
// current acknowledgment information").
func (t *TCB) emit(flags Flags, seq Seq, payload []byte, now Instant) {
	s := &t.out
	*s = Segment{Seq: seq, Flags: flags, Payload: payload}
	if flags&FlagRST == 0 && !(flags&FlagSYN != 0 && flags&FlagACK == 0) {
		s.Flags |= FlagACK
	}
	if s.Flags&FlagACK != 0 {
		s.Ack = t.rcvNxt
	}
	if flags&FlagSYN != 0 {
		t.synOptions(&s.Options, now)
		// RFC 7323 §2.2: the window in a SYN is never scaled.
		s.Window = uint16(min(t.rcv.free(), 0xffff))
		t.rcvAdv = t.rcvNxt.Add(uint32(s.Window))
	} else if flags&FlagRST == 0 {
		s.Window = t.advertise()
		if t.has(flagTS) {
			s.Options.HasTS = true
			s.Options.TSVal = t.tsNow(now)
			s.Options.TSEcr = t.tsRecent
		}
		if t.has(flagSACK) && (t.ooo.n > 0 || t.dsack) {
			t.ooo.sackBlocks(&s.Options, t.dsack, t.dsackL, t.dsackR)
			t.dsack = false
		}
	}
	if s.Flags&FlagACK != 0 {
		t.lastAckSent = t.rcvNxt
		t.ackPending = 0
		t.delackAt = Never
		t.flags &^= flagAckNow
	}
	t.sink.Emit(&t.id, s)
}

// advertise returns the window field to send and records the new right
// edge. Receiver-side silly window avoidance (RFC 9293 §3.8.6.2.2): the
// right edge moves only when it can move by min(RCV.BUFF/2, MSS); it
// never moves left (§3.8.6, "shrinking the window" is discouraged).
func (t *TCB) advertise() uint16 {
	free := uint32(t.rcv.free())
	var cur uint32
	if t.rcvAdv.GreaterThan(t.rcvNxt) {
		cur = t.rcvAdv.Sub(t.rcvNxt)
	}
	wnd := free
	if wnd > cur && wnd-cur < min(uint32(t.rcv.cap())/2, uint32(t.cfg.MSS)) {
		wnd = cur
	}
	wnd = max(wnd, cur)
	field := min(wnd>>t.rcvWScale, 0xffff)
	if edge := t.rcvNxt.Add(field << t.rcvWScale); edge.GreaterThan(t.rcvAdv) {
		t.rcvAdv = edge
	}
	return uint16(field)
}

// tsNow is our TSval: a 1 ms clock (Linux's TCP timestamp rate) plus the
// per-connection offset of RFC 7323 §5.4.
func (t *TCB) tsNow(now Instant) uint32 { return uint32(now/1e6) + t.tsOffset }

// sendACK sends a bare ACK (also used for window updates and as the reply
// to unacceptable segments). Its sequence number is SND.MAX, not SND.NXT:
// while a retransmission timeout has pulled SND.NXT back, the peer's
// RCV.NXT may already be past it, and an ACK carrying an old sequence
// number would fail its acceptability test and be dropped unread (both
// ends doing so deadlocks). Linux's snd_nxt never moves back, so this is
// what Linux puts on the wire.
func (t *TCB) sendACK(now Instant) { t.emit(FlagACK, t.sndMax, nil, now) }

// sendSYN emits our SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED).
func (t *TCB) sendSYN(now Instant, ack bool) {
	f := FlagSYN
	if ack {
		f |= FlagACK
	}
	t.emit(f, t.iss, nil, now)
}

// sendRST emits a reset from this TCB with the given sequence number
// (RFC 9293 §3.10.7.4 and §3.10.4 ABORT: "<SEQ=SND.NXT><CTL=RST>").
func (t *TCB) sendRST(seq Seq, now Instant) {
	s := &t.out
	*s = Segment{Seq: seq, Flags: FlagRST}
	t.sink.Emit(&t.id, s)
}
