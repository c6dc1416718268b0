package tcp

// CLOSE, ABORT (RFC 9293 §3.10.4, §3.10.5), TIME-WAIT and the FIN-WAIT-2
// orphan timeout.

// CloseWrite is CLOSE in the RFC's sense: no more SENDs; a FIN follows
// the queued text; receiving continues (a half-close, shutdown(SHUT_WR)).
func (t *TCB) CloseWrite(now Instant) error {
	switch t.state {
	case Listen, SynSent:
		// "Delete the TCB": nothing was synchronized.
		t.closeWith(nil)
		return nil
	case SynReceived, Established:
		// SYN-RECEIVED: "enter FIN-WAIT-1"; the FIN itself waits for the
		// ACK of our SYN (trySend) and the queued text.
		t.queueFIN()
		t.setState(FinWait1)
	case CloseWait:
		t.queueFIN()
		t.setState(LastAck)
	default:
		return ErrClosed
	}
	t.trySend(now)
	return nil
}

func (t *TCB) queueFIN() {
	if !t.has(flagFinQueued) {
		t.flags |= flagFinQueued
		t.finSeq = t.sndBufSeq.Add(uint32(t.snd.n))
	}
}

// Close is a full close (close(2)): like CloseWrite, and the application
// will read nothing more. As in Linux (RFC 2525 §2.17), closing with
// unread received text resets the connection instead, and text that
// arrives later is answered with a reset. An orphaned connection in
// FIN-WAIT-2 is dropped after Config.FinTimeout.
func (t *TCB) Close(now Instant) error {
	if t.state == Closed {
		return ErrClosed
	}
	t.flags |= flagOrphan
	if t.rcv.n > 0 && t.state.synchronized() && t.state != TimeWait {
		t.Abort(now)
		return nil
	}
	switch t.state {
	case FinWait2:
		t.stateAt = now.Add(t.cfg.FinTimeout)
		return nil
	case FinWait1, Closing, LastAck, TimeWait:
		return nil
	}
	return t.CloseWrite(now)
}

// Abort is ABORT (§3.10.5): a RST for a synchronized connection (and
// SYN-RECEIVED), then CLOSED with ErrAborted.
func (t *TCB) Abort(now Instant) {
	switch t.state {
	case SynReceived, Established, FinWait1, FinWait2, CloseWait:
		t.sendRST(t.sndMax, now)
	case Closed:
		return
	}
	t.closeWith(ErrAborted)
}

// enterTimeWait starts the 2 MSL wait (§3.10.7.4) and tells the owner,
// which may hand the connection to a compact TIME-WAIT table (see Vars)
// and free the TCB.
func (t *TCB) enterTimeWait(now Instant) {
	t.setState(TimeWait)
	t.rtoAt, t.persistAt, t.delackAt, t.keepAt = Never, Never, Never, Never
	t.stateAt = now.Add(2 * t.cfg.MSL)
	t.events |= EventTimeWait | EventReadable
}

// stateTimeout ends TIME-WAIT (2 MSL) or an orphaned FIN-WAIT-2.
func (t *TCB) stateTimeout(now Instant) {
	switch t.state {
	case TimeWait, FinWait2:
		t.closeWith(nil)
	}
}

// TimeWaitAcceptsSYN reports whether a SYN arriving for a connection in
// TIME-WAIT may open a new incarnation (RFC 6191 §2, as Linux's
// tcp_timewait_state_process, which tcp/timewait's table follows too):
// when the connection and the SYN both carry timestamps, a TSval newer
// than TS.Recent is accepted and an older one is an old duplicate (PAWS,
// RFC 7323 §5); an equal TSval, or no timestamp on either side, is
// accepted when the sequence number is beyond RCV.NXT. (RFC 6191 also
// accepts any timestamped SYN after a connection without timestamps;
// Linux, and so sluice, asks that one for a newer sequence number.) The
// owner (or a compact TIME-WAIT table) then drops the old connection and
// hands the SYN to the listener.
func TimeWaitAcceptsSYN(rcvNxt Seq, tsRecent uint32, ts bool, seg *Segment) bool {
	if seg.Flags&(FlagSYN|FlagACK|FlagRST) != FlagSYN {
		return false
	}
	if ts && seg.Options.HasTS {
		if d := int32(seg.Options.TSVal - tsRecent); d != 0 {
			return d > 0
		}
	}
	return seg.Seq.GreaterThan(rcvNxt)
}
