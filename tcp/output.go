package tcp

import "github.com/sluicenet/sluice/tcp/chunk"

// Segment emission: every segment a TCB sends is built here in the TCB's
// scratch Segment (so emitting allocates nothing) and carries the current
// acknowledgment, the advertised window and the negotiated options.

// emitScratch holds the Segment a TCB's emissions are built in. A Sink
// copies what it keeps during Emit and emitting never nests, so one
// scratch serves every TCB driven by one goroutine: it lives in their
// Config (Config.scratch; one per loop), not in each TCB, which saves an
// idle connection 104 octets, and the pointer to it too.
type emitScratch struct{ out Segment }

// scratch is the Segment this TCB's emissions are built in.
func (t *TCB) scratch() *Segment { return &t.cfg.scratch.out }

// emit sends one segment from this TCB with sequence number seq.
// Every segment but a SYN without ACK carries ACK = RCV.NXT (RFC 9293
// §3.10.7.4: "once in the ESTABLISHED state all segments must carry
// current acknowledgment information").
func (t *TCB) emit(flags Flags, seq Seq, payload []byte, now Instant) {
	t.emitRuns(flags, seq, payload, nil, 0, now)
}

// emitRuns is emit for text in two runs: a, then the first n octets of
// chunk next (sendText; Segment.Tail).
func (t *TCB) emitRuns(flags Flags, seq Seq, a []byte, next *chunk.Chunk, n int, now Instant) {
	s := t.scratch()
	*s = Segment{Seq: seq, Flags: flags}
	s.setText(a, next, n)
	if flags&FlagRST == 0 && !(flags&FlagSYN != 0 && flags&FlagACK == 0) {
		s.Flags |= FlagACK
	}
	if s.Flags&FlagACK != 0 {
		s.Ack = t.rcvNxt
	}
	if flags&FlagSYN != 0 {
		t.synOptions(&s.Options, s.Flags&FlagACK != 0, now)
		w := uint32(t.synWindow(s.Options.HasWScale))
		if t.rcvAdv.GreaterThan(t.rcvNxt) {
			w = max(w, t.rcvAdv.Sub(t.rcvNxt)) // a retransmission keeps its edge
		}
		s.Window = uint16(min(w, 0xffff))
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
	t.sink.EmitFlow(t, s)
}

// advertise returns the window field to send and records the right edge
// it offers as RCV.NXT+RCV.WND (rcvAdv is always the edge last sent).
//
// Receiver-side silly window avoidance (RFC 9293 §3.8.6.2.2): the right
// edge moves only when it can move by min(RCV.BUFF/2, the peer's segment
// size). It never moves left (§3.8.6): an edge kept while RCV.NXT moved
// by an amount that is not a multiple of the scale unit is rounded up to
// the next unit (Linux tcp_select_window aligns the window it keeps);
// rounded down, it went left by up to 2^scale-1 octets (issue 14 item
// 2). Rounding up creeps a held edge forward by RCV.NXT's movement
// modulo the unit at each ACK (80 octets per two 1448-octet segments at
// scale 7), so, as Linux keeps part of its buffer unadvertised, a new
// edge stays windowSlack short of the buffer's end, and the SYN's window
// is a whole number of units. Should the creep still reach past the
// buffer's end, the edge is rounded down there rather than offer octets
// that cannot be stored: a window the sender can never fill would keep
// it from its persist timer.
//
// Under memory pressure a new edge covers only what the connection can
// store for certain (newWindow), so that a peer keeping to the window
// never sends text the budget refuses; the window offered is
// max(current offer, room), never less (the right edge does not move
// left, RFC 7323 §2.4).
func (t *TCB) advertise() uint16 {
	free := uint32(t.rcv.free())
	unit := uint32(1) << t.rcvWScale
	var cur uint32
	if t.rcvAdv.GreaterThan(t.rcvNxt) {
		cur = t.rcvAdv.Sub(t.rcvNxt)
	}
	wnd := t.newWindow(free, t.rcvWScale)
	if wnd > cur && wnd-cur < min(uint32(t.rcv.cap())/2, t.rcvMSS()) {
		wnd = cur
	}
	field := wnd >> t.rcvWScale
	if wnd <= cur {
		field = (cur + unit - 1) >> t.rcvWScale
		if field<<t.rcvWScale > free {
			field = free >> t.rcvWScale
		}
	}
	field = min(field, 0xffff)
	t.rcvAdv = t.rcvNxt.Add(field << t.rcvWScale)
	return uint16(field)
}

// newWindow is the most a new right edge may offer past RCV.NXT at our
// window scale, given free octets under the buffer's bound: free less
// windowSlack. Under
// memory pressure it is also at most what the ring can store for certain
// (ring.room: the chunks it holds, or the one chunk a ring holding none
// is granted) less the creep of the held edge while text fills it (below
// a unit per ACK: one unit per full segment the room holds, and one for
// the SYN's unaligned window), as Linux clamps rcv_ssthresh to a few
// segments under tcp_memory_pressure. Without this bound the window
// reopened at every ACK over text the budget then refused, and peers
// retransmitting into it timed out. A ring holding no text still offers
// a unit, so a connection always makes progress.
func (t *TCB) newWindow(free uint32, scale uint8) uint32 {
	wnd := free - min(free, t.windowSlack())
	if !t.rcv.q.Pool().UnderPressure() {
		return wnd
	}
	room := uint32(t.rcv.room())
	if unit := uint32(1) << scale; unit > 1 {
		room -= min(room, (room/t.rcvMSS()+2)*(unit-1))
		if t.rcv.n == 0 && t.ooo.n == 0 {
			room = max(room, min(unit, free))
		}
	}
	return min(wnd, room)
}

// windowSlack is the part of the receive buffer a new right edge leaves
// unoffered, for a held edge to creep into: none without scaling, else
// 1/16 of the buffer. The creep per ACK is below a scale unit and below
// the octets it acknowledges (80 of 2896 at scale 7), so with full-sized
// segments it stays within the slack while the buffer fills.
func (t *TCB) windowSlack() uint32 {
	if t.rcvWScale == 0 {
		return 0
	}
	return uint32(t.rcv.cap()) / 16
}

// synWindow is the window of our SYN or SYN-ACK (RFC 7323 §2.2: never
// scaled). When we offer scaling it leaves the slack of advertise and is
// a whole number of our scale units, so that later windows can keep its
// right edge exactly. Under memory pressure it is at most newWindow
// (then not a whole number of units: the creep is allowed for).
func (t *TCB) synWindow(offerWS bool) uint16 {
	w := synWindowFor(uint32(t.rcv.free()), uint32(t.rcv.cap()), t.cfg.WindowScale, offerWS)
	if t.rcv.q.Pool().UnderPressure() {
		scale := uint8(0)
		if offerWS {
			scale = t.cfg.WindowScale
		}
		w = uint16(min(uint32(w), t.newWindow(uint32(t.rcv.free()), scale)))
	}
	return w
}

// synWindowFor is synWindow for free octets of a buffer of size octets
// (also for a SYN cookie's SYN-ACK, which has no TCB).
func synWindowFor(free, size uint32, scale uint8, offerWS bool) uint16 {
	if !offerWS || scale == 0 {
		return uint16(min(free, 0xffff))
	}
	ws := min(scale, 14)
	w := min(free-min(free, size/16), 0xffff)
	return uint16(w &^ (uint32(1)<<ws - 1))
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
//
// The immediate ACK an Input owes (flagAckNow: quick ACKs, every second
// full segment, a hole filled, a FIN) waits for the owner's Push when the
// Sink is a PushSink, so text the application writes back in the same
// round carries it.
func (t *TCB) sendACK(now Instant) {
	if t.has(flagAckNow) && t.pushes() {
		return // Push sends it (flagAckNow stays set)
	}
	t.emit(FlagACK, t.sndMax, nil, now)
}

// A PushSink is a Sink whose owner calls TCB.Push on a connection after
// every Input to it and after the application's callbacks, in the same
// round (a loop's settle): the ACK an Input owes is sent then, on the
// application's answer when there is one, instead of as a bare ACK just
// before it. The delay is the callbacks' run, far inside the delayed-ACK
// bound (RFC 9293 §3.8.6.3); a Sink without it gets the ACK at the end
// of the Input.
type PushSink interface {
	Sink
	// PushesAfterInput marks the Sink; it is never called.
	PushesAfterInput()
}

// AckOwed reports whether an ACK waits for Push (PushSink).
func (t *TCB) AckOwed() bool { return t.has(flagAckNow) }

// pushes reports whether the Sink is a PushSink.
func (t *TCB) pushes() bool { _, ok := t.marks().(PushSink); return ok }

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
	s := t.scratch()
	*s = Segment{Seq: seq, Flags: FlagRST}
	t.sink.EmitFlow(t, s)
}
