package tcp

import "github.com/sluicenet/sluice/tcp/chunk"

// Send side: the send buffer (RFC 9293 §3.10.2 SEND), segmentation to the
// send MSS within the peer's window and the congestion window, Nagle's
// algorithm and sender-side silly window avoidance (§3.7.4, §3.8.6.2.1),
// the persist timer with zero-window probes (§3.8.6.1) and keepalive
// (§3.8.4).

// Write queues text (RFC 9293 §3.10.2 SEND) and sends what the windows
// allow. It returns how many octets were taken: fewer than len(p) when
// the send buffer is full (backpressure; wait for EventWritable). Text
// written in SYN-SENT or SYN-RECEIVED is queued and sent once
// ESTABLISHED.
func (t *TCB) Write(p []byte, now Instant) (int, error) {
	n, err := t.WriteMore(p)
	if err == nil {
		t.trySend(now)
	}
	return n, err
}

// WriteMore is Write without sending: SEND with the PUSH flag clear
// (RFC 9293 §3.9.1.2, "the data may be combined with data from
// subsequent SENDs for transmission efficiency"), Linux's MSG_MORE.
// The owner calls Push once the application has written what it will
// for now, so several writes and a CLOSE leave in as few segments as
// the windows and the MSS allow, the FIN on the last of them. Anything
// that sends in the meantime (an ACK arriving, a timer, CLOSE) takes the
// queued text along, so the owner's Push is the latest it leaves.
func (t *TCB) WriteMore(p []byte) (int, error) {
	switch t.state {
	case SynSent, SynReceived, Established, CloseWait:
	default:
		if t.err != nil {
			return 0, t.err
		}
		return 0, ErrClosed
	}
	if t.has(flagFinQueued) {
		return 0, ErrClosed
	}
	if len(p) > t.snd.free() {
		t.sndAutotune()
	}
	return t.snd.push(p), nil
}

// WriteLent is WriteMore for text the application lends rather than
// gives (chunk.Queue.Lend; Linux's MSG_ZEROCOPY): the send buffer takes
// p whole, whatever room it has, and segments are built from p's memory
// in place. The caller must not change p until release runs: the owner
// takes it from the send buffer's pool (TakeLentDone) once the buffer no
// longer refers to p, every octet acknowledged or the connection
// released. It returns 0 and takes nothing, release not queued, for a p
// shorter than chunk.LendMin (copy it with WriteMore), or when p cannot
// be taken whole.
func (t *TCB) WriteLent(p []byte, release func()) (int, error) {
	if _, err := t.WriteMore(nil); err != nil {
		return 0, err
	}
	k := t.snd.q.Lend(p, release)
	t.snd.n += k
	return k, nil
}

// TakeLentDone appends the release functions of lent text the send
// buffers of the TCB's pool no longer refer to (WriteLent) and forgets
// them; the owner calls them where the application may run.
func (t *TCB) TakeLentDone(dst []func()) []func() { return t.snd.q.Pool().TakeDone(dst) }

// LentDone queues release as a released run's, for text the owner copied
// instead of lending (so every lender learns in the same way).
func (t *TCB) LentDone(release func()) { t.snd.q.Pool().Done(release) }

// Push sends the queued text the windows, the MSS and Nagle's algorithm
// allow now (what Write does after queueing; WriteMore leaves it to the
// owner), then the ACK an Input owes if no segment carried it (a
// PushSink's, sendACK).
func (t *TCB) Push(now Instant) {
	t.trySend(now)
	if t.has(flagAckNow) && t.state.synchronized() {
		t.emit(FlagACK, t.sndMax, nil, now)
	}
}

// Writable is the free space in the send buffer.
func (t *TCB) Writable() int { return t.snd.free() }

// Unsent is the number of queued octets not yet sent.
func (t *TCB) Unsent() int {
	end := t.sndBufSeq.Add(uint32(t.snd.n))
	if t.sndNxt.LessThan(end) {
		return int(end.Sub(t.sndNxt))
	}
	return 0
}

// Flush sends queued text ignoring Nagle's algorithm once (like
// TCP_NODELAY toggled, or Linux's MSG_MORE cleared).
func (t *TCB) Flush(now Instant) {
	f := t.flags
	t.flags |= flagNoDelay
	t.trySend(now)
	t.flags = t.flags&^flagNoDelay | f&flagNoDelay
}

// trySend emits what the send buffer, windows and Nagle allow.
func (t *TCB) trySend(now Instant) {
	switch t.state {
	case Established, CloseWait, FinWait1, Closing, LastAck:
	default:
		return
	}
	if t.sndUna == t.iss { // our SYN is not acknowledged yet
		return
	}
	dataEnd := t.sndBufSeq.Add(uint32(t.snd.n))
	if !t.sndNxt.LessThan(dataEnd) {
		// Nothing unsent (an ACK's or an Input's call, mostly): the
		// loop below would do only this, and asks the controller for
		// its pacing rate first.
		t.checkAppLimited()
		t.sendQueuedFIN(now)
		return
	}
	noDelay := t.cfg.NoDelay || t.has(flagNoDelay|flagFinQueued)
	if t.sndMax == t.sndUna && t.lastSend != 0 && now.Sub(t.lastSend) > t.rto {
		// RFC 5681 §4.1 (RFC 9438 §5.8): restart from at most the
		// initial window after an idle period longer than the RTO.
		t.cc.OnIdle(t.sndMSS, now)
		t.lastSend = now
	}
	rate := t.pacingRate()
	unsent, sent := uint32(0), false
	for {
		if t.sb.n > 0 && t.sndNxt.LessThan(t.sndMax) {
			// Go-back-N after a timeout skips what the peer SACKed
			// (RFC 6675 §5.1 keeps the scoreboard across the RTO).
			t.sndNxt = t.sb.skip(t.sndNxt)
		}
		unsent = 0
		if t.sndNxt.LessThan(dataEnd) {
			unsent = dataEnd.Sub(t.sndNxt)
		}
		if unsent == 0 {
			t.checkAppLimited()
			break
		}
		edge := t.sndUna.Add(min(t.sndWnd, t.cc.Window()))
		if t.inRecovery() {
			// RFC 6675 §5 (C): new data only while cwnd - pipe >= 1 SMSS,
			// within the peer's window.
			edge = t.sndNxt
			if p, w := t.pipe(), t.cc.Window(); p < w {
				edge = t.sndNxt.Add(w - p)
			}
			if r := t.sndUna.Add(t.sndWnd); r.LessThan(edge) {
				edge = r
			}
		}
		usable := uint32(0)
		if edge.GreaterThan(t.sndNxt) {
			usable = edge.Sub(t.sndNxt)
		}
		mss := t.curMSS()
		n := min(unsent, mss, usable)
		idle := t.sndMax == t.sndUna // nothing in flight
		if n == 0 {
			if t.sndWnd == 0 && idle && t.persistAt == Never {
				t.armPersist(now)
			}
			break
		}
		if n < mss && t.sndNxt.GreaterEq(t.sndMax) {
			// (Never for octets sent before: Linux applies neither Nagle
			// nor SWS avoidance to a retransmission; after an RTO a lost
			// short tail would otherwise wait for its own ACK.)
			// §3.7.4 Nagle, in Minshall's form as Linux has it: a short
			// segment carrying all queued text goes unless an earlier
			// short segment is still unacknowledged (or Nagle is off).
			// §3.8.6.2.1 SWS: otherwise only if it fills half the
			// largest window the peer offered.
			allQueued := n == unsent
			smallOut := t.sndSml.GreaterThan(t.sndUna)
			ok := allQueued && (noDelay || !smallOut) ||
				n >= t.maxSndWnd/2 && t.maxSndWnd > 0 ||
				idle && !allQueued // window-limited with nothing in flight: no ACK will come to clock it
			if !ok {
				break
			}
		}
		if rate > 0 {
			// Pacing (pacing.go): the segment waits for its departure
			// time; the owner's timer releases the next batch.
			x := t.sx()
			if !x.pace.ready(now) {
				t.persistAt = x.pace.wake()
				break
			}
			x.pace.sent(n, rate, now)
		}
		off := int(t.sndNxt.Sub(t.sndBufSeq))
		a, next, k := t.sendText(off, int(n))
		n = uint32(len(a) + k)
		f := FlagACK
		end := t.sndNxt.Add(n)
		if end == dataEnd {
			f |= FlagPSH
			if t.has(flagFinQueued) {
				f |= FlagFIN // FIN rides on the last segment, as Linux does
			}
		}
		t.transmitRuns(f, a, next, k, now)
		sent = true
	}
	// Every break with text unsent leaves sndNxt before the FIN's
	// sequence number, so only the loop's end sends a queued FIN here.
	t.sendQueuedFIN(now)
	if limited := unsent > 0 && t.cwndFull(); sent || limited {
		t.cwndValidate(limited)
	}
}

// sendQueuedFIN sends the FIN alone when all text before it has gone
// (CLOSE after the last segment left, RFC 9293 §3.10.4).
func (t *TCB) sendQueuedFIN(now Instant) {
	if t.has(flagFinQueued) && t.sndNxt == t.finSeq {
		t.transmit(FlagFIN|FlagACK, nil, now)
	}
}

// sendText returns up to k octets of the send buffer from offset off
// as a segment's text (new text and every retransmission alike):
// Payload, then the first n octets of chunk next (Segment.Tail). Text
// crossing a chunk is two runs in place (chunk.Queue.Runs2) for a
// TailSink; otherwise, or when k exceeds a chunk, it is one slice,
// gathered into the pool's scratch when it crosses a chunk (valid until
// the next gather). The Sink is asked whether it is a TailSink only when
// the text crosses a chunk: the assertion goes through the runtime's
// type-assertion cache (a fifth of trySend's samples when asked on every
// call), and the text of a request's answer, sent from an emptied
// buffer, rarely crosses one.
func (t *TCB) sendText(off, k int) (a []byte, next *chunk.Chunk, n int) {
	if k <= chunk.Size {
		if a, next, n = t.snd.q.Runs2(off, k); next == nil || t.takesTail() {
			return a, next, n
		}
	}
	return t.snd.q.Gather(off, k), nil, 0
}

// takesTail reports whether the Sink takes text as two runs (TailSink),
// so text crossing a send-buffer chunk is not gathered into a copy.
func (t *TCB) takesTail() bool { _, ok := t.marks().(TailSink); return ok }

// transmit emits a segment at SND.NXT and advances it.
func (t *TCB) transmit(f Flags, p []byte, now Instant) { t.transmitRuns(f, p, nil, 0, now) }

// transmitRuns is transmit for text in two runs: a, then the first k
// octets of chunk next (sendText).
func (t *TCB) transmitRuns(f Flags, a []byte, next *chunk.Chunk, k int, now Instant) {
	seq := t.sndNxt
	if t.sndMax == t.sndUna && len(a)+k > 0 {
		t.txStart(now)
	}
	t.emitRuns(f, seq, a, next, k, now)
	n := len(a) + k
	l := uint32(n)
	if f&FlagFIN != 0 {
		l++
	}
	t.noteSent(seq, l, now)
	t.sndNxt = seq.Add(l)
	if n > 0 && uint32(n) < t.curMSS() {
		t.sndSml = t.sndNxt
	}
	if seq.LessThan(t.sndMax) {
		t.noteRetransmit(seq, now)
	}
	fresh := false
	if t.sndNxt.GreaterThan(t.sndMax) {
		// Karn (RFC 6298 §3): time only new data, one sample at a time.
		if t.rttAt == Never && seq == t.sndMax {
			t.rttAt, t.rttSeq = now, t.sndNxt
		}
		t.sndMax = t.sndNxt
		fresh = true
	}
	if n > 0 {
		t.lastSend = now
	}
	if t.rtoAt == Never || fresh && t.rec.flags&recPTO != 0 {
		// RFC 6298 §5.1; RFC 8985 §7.2 restarts the PTO on new data
		// (and arms one only then).
		t.armLossTimer(now, fresh)
	}
	t.persistAt = Never
}

// armPersist starts the persist timer (§3.8.6.1) with exponential
// backoff bounded by MaxRTO.
func (t *TCB) armPersist(now Instant) {
	d := t.rto << min(t.persistShift, 16)
	t.persistAt = now.Add(min(d, t.cfg.MaxRTO))
}

// persistTimeout sends a zero-window probe. Like Linux, the probe is an
// ACK with sequence number SND.UNA-1 and no text: outside the peer's
// window, so it must be answered with an ACK carrying the current window
// (§3.10.7.4), and it never puts text beyond the offered window. The
// connection gives up after DataRetries probes in a row go unanswered;
// a peer that keeps answering with a zero window is probed forever, as
// RFC 9293 §3.8.6.1 requires.
func (t *TCB) persistTimeout(now Instant) {
	if t.sndWnd > 0 || t.Unsent() == 0 {
		t.persistShift = 0
		t.trySend(now)
		return
	}
	if int(t.persistProbes) >= t.cfg.DataRetries {
		t.closeWith(ErrTimeout)
		return
	}
	t.persistProbes++
	t.persistShift++
	t.emit(FlagACK, t.sndUna-1, nil, now)
	t.armPersist(now)
}

// armKeepalive (re)starts the keepalive idle timer after traffic.
func (t *TCB) armKeepalive(now Instant) {
	if !t.cfg.KeepAlive {
		return
	}
	switch t.state {
	case Established, CloseWait, FinWait1, FinWait2:
		t.keepAt = now.Add(t.cfg.KeepIdle)
	}
}

// keepaliveTimeout sends a keepalive probe (§3.8.4: a segment with
// SEG.SEQ = SND.NXT-1 and no text, as Linux sends) or, after KeepCount
// unanswered probes, resets the connection and fails with ErrTimeout.
func (t *TCB) keepaliveTimeout(now Instant) {
	switch t.state {
	case Established, CloseWait, FinWait1, FinWait2:
	default:
		return
	}
	if t.sndMax != t.sndUna {
		// Data in flight: the retransmission timer watches the peer.
		t.keepAt = now.Add(t.cfg.KeepInterval)
		return
	}
	if int(t.keepProbes) >= t.cfg.KeepCount {
		t.sendRST(t.sndMax, now)
		t.closeWith(ErrTimeout)
		return
	}
	t.keepProbes++
	t.emit(FlagACK, t.sndNxt-1, nil, now)
	t.keepAt = now.Add(t.cfg.KeepInterval)
}
