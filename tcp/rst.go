package tcp

// Resets: the replies RFC 9293 §3.10.7.1 prescribes where no connection
// exists, and the RFC 5961 rules for accepting a RST or SYN in a
// synchronized state (blind in-window attacks).

// ResetReply fills out with the reset RFC 9293 §3.10.7.1 sends in reply to
// seg when no connection exists (state CLOSED: a segment to a port
// nobody listens on, or a stale segment). It returns false when no reply
// is due (seg is itself a RST: "an incoming segment containing a RST is
// discarded"):
//
//	if ACK is on:  <SEQ=SEG.ACK><CTL=RST>
//	otherwise:     <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>
func ResetReply(seg *Segment, out *Segment) bool {
	if seg.Flags&FlagRST != 0 {
		return false
	}
	*out = Segment{}
	if seg.Flags&FlagACK != 0 {
		out.Seq, out.Flags = seg.Ack, FlagRST
	} else {
		out.Ack, out.Flags = seg.Seq.Add(seg.Len()), FlagRST|FlagACK
	}
	return true
}

// replyReset sends ResetReply(seg) from this TCB's 4-tuple.
func (t *TCB) replyReset(seg *Segment) {
	if s := t.scratch(); ResetReply(seg, s) {
		t.sink.EmitFlow(t, s)
	}
}

// challengeACK sends the challenge ACK of RFC 5961 §3.2/§4.2/§5.2
// throttled as Linux's tcp_send_challenge_ack (§7 leaves the throttle to
// the implementation): first one per 500 ms per connection, shared with
// the other out-of-window ACKs (oowACK, tcp_invalid_ratelimit), then at
// most Config.ChallengeACKLimit per second. Unlike Linux's global second
// limit, that one is per connection: the per-loop owner can add a global
// budget on top; a per-connection limit cannot be used as a side channel
// across connections (CVE-2016-5696).
//
// The segment that earns it is discarded either way, and counted in
// Drops here, once: callers do not count it again.
func (t *TCB) challengeACK(now Instant) {
	t.Drops++
	if t.oowLimited(now) {
		return
	}
	if ms := msClock(now); ms-t.chalMs >= 1000 {
		t.chalMs, t.chalCount = ms, 0
	}
	if lim := t.cfg.ChallengeACKLimit; lim > 0 && t.chalCount >= uint32(lim) {
		t.count().ChallengeACKsLimited++
		return
	}
	t.chalCount++
	t.count().ChallengeACKs++
	t.sendACK(now)
}

// inputRST handles a RST in a synchronized state or SYN-RECEIVED
// (RFC 9293 §3.10.7.4 second check, as amended by RFC 5961 §3.2):
// exactly RCV.NXT resets the connection; elsewhere inside the window it
// earns a challenge ACK; outside the window it is dropped.
func (t *TCB) inputRST(seg *Segment, now Instant) {
	if seg.Seq != t.rcvNxt {
		if seg.Seq.InWindow(t.rcvNxt, t.rcvWnd()) {
			t.challengeACK(now)
		} else {
			t.Drops++
		}
		return
	}
	switch t.state {
	case SynReceived:
		if t.has(flagPassive) {
			// "If this connection was initiated with a passive OPEN, then
			// return this connection to the LISTEN state."
			if t.l != nil {
				t.closeWith(ErrConnectionReset)
			} else {
				t.backToListen()
			}
			return
		}
		// Active open (simultaneous): "the connection was refused".
		t.closeWith(ErrConnectionRefused)
	case Established, FinWait1, FinWait2, CloseWait:
		t.closeWith(ErrConnectionReset)
	case Closing, LastAck:
		t.closeWith(nil)
	case TimeWait:
		// RFC 1337 (TIME-WAIT assassination): ignore RST in TIME-WAIT.
		t.Drops++
	}
}

// backToListen returns a standalone passive TCB from SYN-RECEIVED to
// LISTEN, forgetting the half-open connection.
func (t *TCB) backToListen() {
	t.setState(Listen)
	t.rtoAt, t.persistAt, t.delackAt, t.keepAt, t.stateAt = Never, Never, Never, Never, Never
	t.snd.consume(t.snd.n)
	t.rcv.consume(t.rcv.n)
	t.dropRanges()
	t.flags &= flagPassive | flagNoDelay
	t.retries = 0
	t.rto = t.cfg.InitialRTO
}
