package tcp

// Listener is a passive OPEN that serves many connections (RFC 9293
// §3.10.1 with an unspecified foreign socket): a bounded SYN queue of
// TCBs in SYN-RECEIVED, a bounded accept queue (backlog) of ESTABLISHED
// TCBs, and SYN cookies (RFC 4987) when the SYN queue is full.
//
// The owner demultiplexes: a segment whose 4-tuple has a TCB goes to
// TCB.Input; one without goes to Listener.Input, which may return a new
// TCB that the owner must enter in its table (and drive like any other:
// Input, OnTimer at Deadline, free on EventClosed). Children report back
// to their Listener when they establish or die, so the queue counts stay
// exact.
type Listener struct {
	cfg  *Config
	sink Sink

	synq    int    // children in SYN-RECEIVED
	accept  []*TCB // ring of ESTABLISHED children not yet accepted
	head, n int
	out     Segment

	// Counters.
	Drops, CookiesSent, CookiesAccepted uint64
}

// NewListener makes a listener. cfg must stay valid and unchanged.
func NewListener(cfg *Config, sink Sink) *Listener {
	return &Listener{cfg: cfg, sink: sink, accept: make([]*TCB, cfg.AcceptBacklog)}
}

// Pending returns the SYN queue and accept queue lengths.
func (l *Listener) Pending() (syn, accept int) { return l.synq, l.n }

// Input processes a segment for 4-tuple id that has no TCB (RFC 9293
// §3.10.7.2, LISTEN). It returns the TCB it created, or nil.
func (l *Listener) Input(id *ID, seg *Segment, now Instant) *TCB {
	f := seg.Flags
	switch {
	case f&FlagRST != 0:
		return nil
	case f&FlagACK != 0 && f&FlagSYN == 0:
		if t := l.cookieACK(id, seg, now); t != nil {
			return t
		}
		l.reset(id, seg)
		return nil
	case f&FlagACK != 0:
		// SYN,ACK to a listener: "any acknowledgment is bad".
		l.reset(id, seg)
		return nil
	case f&FlagSYN == 0:
		l.Drops++
		return nil
	}
	if l.synq >= l.cfg.SynBacklog {
		if l.cfg.SynCookies && l.cfg.Cookies != nil {
			l.cookieSYNACK(id, seg, now)
		} else {
			l.Drops++ // Linux drops the SYN silently; the peer retries
		}
		return nil
	}
	t := newTCB(l.cfg, *id, l.sink)
	t.state = Listen
	t.flags |= flagPassive
	t.l = l
	t.flags |= flagInSynQ
	l.synq++
	t.inputListen(seg, now)
	return t
}

func (l *Listener) reset(id *ID, seg *Segment) {
	if ResetReply(seg, &l.out) {
		l.sink.Emit(id, &l.out)
	}
}

// Accept takes the oldest established connection off the accept queue
// (nil if none). From then on the TCB belongs to the application alone.
func (l *Listener) Accept() *TCB {
	if l.n == 0 {
		return nil
	}
	t := l.accept[l.head]
	l.accept[l.head] = nil
	l.head = (l.head + 1) % len(l.accept)
	l.n--
	t.l = nil
	return t
}

func (l *Listener) roomToAccept() bool { return l.n < len(l.accept) }

func (l *Listener) childEstablished(t *TCB) {
	if t.has(flagInSynQ) {
		t.flags &^= flagInSynQ
		l.synq--
	}
	l.accept[(l.head+l.n)%len(l.accept)] = t
	l.n++
}

// childGone is called when a child closes. A child in SYN-RECEIVED frees
// its SYN-queue slot (RST in SYN-RECEIVED: the listener itself stays in
// LISTEN). A closed child still in the accept queue stays there: Accept
// hands it out and the application sees its error, as with Linux.
func (l *Listener) childGone(t *TCB) {
	if t.has(flagInSynQ) {
		t.flags &^= flagInSynQ
		l.synq--
		t.l = nil
	}
}

// cookieSYNACK answers a SYN statelessly (RFC 4987 §3.6): the ISN encodes
// the peer's MSS; no TCB is kept. Window scaling, SACK and timestamps are
// not offered (as Linux without timestamps), so nothing else needs to be
// remembered.
func (l *Listener) cookieSYNACK(id *ID, seg *Segment, now Instant) {
	mss := seg.Options.MSS
	if mss == 0 {
		mss = 536
	}
	mss = min(mss, l.cfg.MSS)
	s := &l.out
	*s = Segment{
		Seq:    l.cfg.Cookies.Encode(id, seg.Seq, mss, now),
		Ack:    seg.Seq + 1,
		Flags:  FlagSYN | FlagACK,
		Window: uint16(min(l.cfg.RecvBuffer, 0xffff)),
	}
	s.Options.MSS = l.cfg.MSS
	l.CookiesSent++
	l.sink.Emit(id, s)
}

// cookieACK checks a bare ACK against the cookie it may carry and, if
// valid and the accept queue has room, creates the connection directly
// in ESTABLISHED.
func (l *Listener) cookieACK(id *ID, seg *Segment, now Instant) *TCB {
	if !l.cfg.SynCookies || l.cfg.Cookies == nil || !l.roomToAccept() {
		return nil
	}
	mss, ok := l.cfg.Cookies.Decode(id, seg.Seq-1, seg.Ack-1, now)
	if !ok {
		return nil
	}
	t := newTCB(l.cfg, *id, l.sink)
	t.flags |= flagPassive
	t.iss, t.irs = seg.Ack-1, seg.Seq-1
	t.sndUna, t.sndNxt, t.sndMax = seg.Ack, seg.Ack, seg.Ack
	t.sndBufSeq = seg.Ack
	t.rcvNxt = seg.Seq
	t.rcvAdv = t.rcvNxt.Add(uint32(min(l.cfg.RecvBuffer, 0xffff)))
	t.lastAckSent = t.rcvNxt
	t.setSendMSS(mss)
	t.sndWnd, t.maxSndWnd = uint32(seg.Window), uint32(seg.Window)
	t.sndWl1, t.sndWl2 = seg.Seq, seg.Ack
	t.state = Established
	t.events |= EventEstablished | EventWritable
	t.lastRecv = now
	t.armKeepalive(now)
	l.accept[(l.head+l.n)%len(l.accept)] = t
	l.n++
	l.CookiesAccepted++
	if len(seg.Payload) > 0 || seg.Flags&FlagFIN != 0 {
		t.Input(seg, now)
	}
	return t
}
