package tcp

import "github.com/sluicenet/sluice/tcp/syncookie"

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

	// reopen, during InputReopen, gives the new child reopenISS.
	reopen    bool
	reopenISS Seq

	fresh *TCB // an empty TCB whose SYN-ACK window a cookie's offers

	// Pool, if set, supplies recycled TCBs for new connections (it may
	// return nil to allocate): see OpenReuse.
	Pool func() *TCB

	// Counters.
	Drops, CookiesSent, CookiesAccepted uint64
}

func (l *Listener) newChild(id *ID) *TCB {
	var t *TCB
	if l.Pool != nil {
		t = l.Pool()
	}
	return initTCB(t, l.cfg, *id, l.sink)
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
		t, valid := l.cookieACK(id, seg, now)
		if !valid {
			l.reset(id, seg)
		}
		return t
	case f&FlagACK != 0:
		// SYN,ACK to a listener: "any acknowledgment is bad".
		l.reset(id, seg)
		return nil
	case f&FlagSYN == 0:
		l.Drops++
		return nil
	case f&FlagFIN != 0:
		// SYN+FIN opens nothing: no client sends it, scanners and
		// evasion tools do. Linux discards it in LISTEN
		// (tcp_rcv_state_process, SKB_DROP_REASON_TCP_FLAGS).
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
	t := l.newChild(id)
	t.setState(Listen)
	t.flags |= flagPassive
	t.l = l
	t.flags |= flagInSynQ
	l.synq++
	if seg.Options.HasTS && l.cfg.Timestamps {
		t.takeTSOffset() // inputListen agrees to them
	}
	t.inputListen(seg, now)
	return t
}

// InputReopen is Input for a SYN that TimeWaitAcceptsSYN let reopen a
// 4-tuple in TIME-WAIT whose SND.NXT was sndNxt: the new incarnation's
// ISS is sndNxt+65537, above anything the old one sent, as Linux's
// tcp_timewait_state_process chooses (RFC 6191 §2 relies on it without
// timestamps). The owner drops the TIME-WAIT state first.
func (l *Listener) InputReopen(id *ID, seg *Segment, now Instant, sndNxt Seq) *TCB {
	l.reopen, l.reopenISS = true, sndNxt.Add(65537)
	defer func() { l.reopen = false }()
	return l.Input(id, seg, now)
}

// ReopensWith reports whether seg, a SYN for this TCB's 4-tuple, may
// open a new incarnation of it (TimeWaitAcceptsSYN): only in TIME-WAIT.
// An owner that keeps TIME-WAIT in the TCB (its compact table full) then
// frees the TCB and passes seg to Listener.InputReopen with Vars().SndNxt;
// without this check such a TCB never reopened.
func (t *TCB) ReopensWith(seg *Segment) bool {
	return t.state == TimeWait && TimeWaitAcceptsSYN(t.rcvNxt, t.tsRecent, t.has(flagTS), seg)
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

// cookieSYNACK answers a SYN statelessly (RFC 4987 §3.6): the ISN is a
// cookie encoding the 4-tuple, the peer's ISN and its MSS; when the SYN
// carried timestamps, window scale and SACK-permitted ride in the low bits
// of our TSval (Linux cookie_init_timestamp). No TCB is kept.
func (l *Listener) cookieSYNACK(id *ID, seg *Segment, now Instant) {
	o := &seg.Options
	peer := o.MSS
	if peer == 0 {
		peer = 536
		if id.RemoteAddr.Is6() && !id.RemoteAddr.Is4In6() {
			peer = 1220
		}
	}
	cookie, _ := l.cfg.Cookies.Make(id.LocalAddr, id.RemoteAddr, id.LocalPort, id.RemotePort,
		uint32(seg.Seq), min(peer, l.cfg.MSS), int64(now))
	s := &l.out
	*s = Segment{
		Seq:    Seq(cookie),
		Ack:    seg.Seq + 1,
		Flags:  FlagSYN | FlagACK,
		Window: l.cookieWindow(o.HasTS && o.HasWScale),
	}
	s.Options.MSS = l.cfg.MSS
	if o.HasTS && l.cfg.Timestamps {
		ws := o.HasWScale && l.cfg.WindowScale > 0
		sack := o.SACKPermitted && l.cfg.SACK
		var off uint32
		if l.cfg.TSOffset != nil {
			off = l.cfg.TSOffset(id)
		}
		s.Options.HasTS = true
		s.Options.TSVal = syncookie.EncodeTS(uint32(now/1e6)+off, o.WScale, ws, sack)
		s.Options.TSEcr = o.TSVal
		s.Options.HasWScale, s.Options.WScale = ws, l.cfg.WindowScale
		s.Options.SACKPermitted = sack
	}
	l.CookiesSent++
	l.sink.Emit(id, s)
}

// cookieWindow is the window of a cookie's SYN-ACK: a new child's
// SYN-ACK window (synWindow, on a TCB with nothing buffered kept for the
// purpose), so under memory pressure it is bounded as the SYN queue's
// are, to what the one chunk a connection is granted can store; a SYN
// flood answered with cookies would otherwise invite a full window of
// text per connection past the budget. ws says whether window scaling is
// offered (the SYN offered it, with timestamps to carry it). The ACK
// completing the handshake derives the window again; should pressure
// have come or gone in between, the right edge it records differs from
// the one offered by at most the bound.
func (l *Listener) cookieWindow(ws bool) uint16 {
	ws = ws && l.cfg.Timestamps && l.cfg.WindowScale > 0
	if l.fresh == nil {
		l.fresh = newTCB(l.cfg, ID{}, l.sink)
	}
	t := l.fresh
	t.rcvWScale = 0
	if ws {
		t.rcvWScale = l.cfg.WindowScale
	}
	return t.synWindow(ws)
}

// cookieACK checks a bare ACK against the cookie it may carry and, if
// valid and the accept queue has room, creates the connection directly
// in ESTABLISHED. A valid cookie with the accept queue full is dropped
// silently (Linux: the peer retransmits); valid reports whether the
// cookie was good.
func (l *Listener) cookieACK(id *ID, seg *Segment, now Instant) (_ *TCB, valid bool) {
	if !l.cfg.SynCookies || l.cfg.Cookies == nil {
		return nil, false
	}
	mss, ok := l.cfg.Cookies.Check(id.LocalAddr, id.RemoteAddr, id.LocalPort, id.RemotePort,
		uint32(seg.Seq-1), uint32(seg.Ack-1), int64(now))
	if !ok {
		return nil, false
	}
	if !l.roomToAccept() {
		l.Drops++
		return nil, true
	}
	t := l.newChild(id)
	t.flags |= flagPassive
	if o := &seg.Options; o.HasTS && l.cfg.Timestamps {
		ws, hasWS, sack := syncookie.DecodeTS(o.TSEcr)
		t.takeTSOffset() // the one the cookie's SYN-ACK used
		t.flags |= flagTS | flagTSRecentSet
		t.tsRecent, t.tsRecentSec = o.TSVal, secClock(now)
		if hasWS && l.cfg.WindowScale > 0 {
			t.flags |= flagWS
			t.sndWScale, t.rcvWScale = ws, l.cfg.WindowScale
		}
		if sack {
			t.flags |= flagSACK
		}
	}
	t.iss, t.irs = seg.Ack-1, seg.Seq-1
	t.sndUna, t.sndNxt, t.sndMax = seg.Ack, seg.Ack, seg.Ack
	t.sndBufSeq = seg.Ack
	t.sndSml = seg.Ack
	t.rcvNxt = seg.Seq
	// The right edge the cookie's SYN-ACK offered (its window is derived
	// again from what the peer's SYN offered, as the cookie recorded it).
	t.rcvAdv = t.rcvNxt.Add(uint32(l.cookieWindow(t.has(flagWS))))
	t.lastAckSent = t.rcvNxt
	t.setSendMSS(mss)
	t.sndWnd = uint32(seg.Window) << t.sndWScale
	t.maxSndWnd = t.sndWnd
	t.sndWl1, t.sndWl2 = seg.Seq, seg.Ack
	t.setState(Established) // from CLOSED: the cookie stood for SYN-RECEIVED
	t.lastRecvMs = msClock(now)
	t.armKeepalive(now)
	l.accept[(l.head+l.n)%len(l.accept)] = t
	l.n++
	l.CookiesAccepted++
	if len(seg.Payload) > 0 || seg.Flags&FlagFIN != 0 {
		t.Input(seg, now)
	}
	return t, true
}
