package tcp

import "time"

// TCB is one connection's Transmission Control Block (RFC 9293 §3.3.1).
// It is driven by one owner (a loop) only: Input for each arriving
// segment, OnTimer when Deadline has passed, and the user calls (Write,
// Read, Close...). Every call that may emit segments takes the current
// Instant; segments go to the Sink given at creation.
type TCB struct {
	cfg  *Config
	sink FlowSink // names the 4-tuple too: the TCB keeps none (FlowSink)
	cc   Congestion
	ss   cubic     // the built-in controllers (CUBIC, or its newReno part), inline: no allocation
	l    *Listener // passive child of a Listener, until accepted or freed
	err  error

	// The fields are ordered so that none needs padding: every idle
	// connection holds one TCB, and 568 octets is Go's 576-octet size
	// class with the allocation header (TestTCBSize).

	// Send sequence space (RFC 9293 §3.3.1). sndMax is the highest
	// sequence number sent so far: after a retransmission timeout sndNxt
	// goes back to sndUna (go-back-N) while sndMax remembers what the peer
	// may legitimately acknowledge.
	iss, sndUna, sndNxt, sndMax Seq
	sndWl1, sndWl2              Seq
	sndSml                      Seq    // end of the last short segment sent (Minshall's Nagle)
	sndWnd, maxSndWnd           uint32 // scaled peer window; largest seen
	sndMSS                      uint16 // effective send MSS (text per segment)
	sndWScale, rcvWScale        uint8
	state                       State
	events                      Event
	flags                       tcbFlags

	// Receive sequence space. rcvAdv is the right edge we advertised last
	// (RCV.NXT+RCV.WND): it never moves left (RFC 9293 §3.8.6).
	irs, rcvNxt, rcvAdv Seq
	lastAckSent         Seq

	// Timestamps (RFC 7323).
	tsRecent    uint32
	tsOffset    uint32
	tsRecentSec uint32 // secClock when TS.Recent was last set (RFC 7323 §5.5)
	lastRecvMs  uint32 // msClock of the last acceptable segment
	rcvSpace    uint32 // receive-buffer auto-tuning (autotune.go), here to pack

	// Buffers: snd holds text from sndBufSeq (unacknowledged, then
	// unsent); rcv holds in-order text not yet read, followed by room for
	// out-of-order text tracked in ooo.
	snd       ring
	rcv       ring
	ooo       oooQueue
	sndBufSeq Seq
	finSeq    Seq // our FIN's sequence number, valid when flagFinQueued

	// Congestion window validation (congestion.go, Linux
	// tcp_cwnd_validate): maxFlight is the most octets in flight in the
	// current window, which ends once SND.UNA reaches cwndUseEnd, or
	// flightCwndFull once cwnd held trySend back in it (tcbFlags has no
	// bit left for that).
	cwndUseEnd Seq
	maxFlight  uint32

	// Timers, as absolute instants (Never when disarmed).
	rtoAt, persistAt, delackAt, keepAt, stateAt Instant

	// RFC 6298 state.
	srtt, rttvar, rto time.Duration
	rttAt             Instant // Never when no sample is being timed (Karn)
	rttSeq            Seq
	ackPending        uint32 // octets received and not yet acknowledged
	retries           uint8  // consecutive timeouts of rtoAt / persistAt
	keepProbes        uint8
	persistProbes     uint8 // unanswered zero-window probes
	persistShift      uint8 // persist backoff exponent
	quickAcks         uint8
	dsack             bool   // dsackL..dsackR is to be reported (below)
	rcvMSSEst         uint16 // the peer's segment size, measured (rcvMSS)

	// RFC 5961 §7 challenge-ACK budget: chalCount sent in the second
	// from msClock chalMs.
	chalMs    uint32
	chalCount uint32
	oowMs     uint32 // msClock of the last rate-limited out-of-window ACK (0: none)
	// rcvRTTus is the receiver's RTT estimate in µs (autotune.go), here
	// to pack with the fields above.
	rcvRTTus uint32

	// Loss recovery (recovery.go): SACK scoreboard and recovery state.
	sb       scoreboard
	rec      recovery
	lastSend Instant // when text was last sent (slow start after idle)
	// rackKept is RACK's state kept while no sendState is held between
	// flights (releaseSender).
	rackKept rackKept

	// dsackL..dsackR is a duplicate range to report first in the next
	// ACK's SACK option (RFC 2883), when dsack is set.
	dsackL, dsackR Seq
	rcvDataMs      uint32 // ms clock of the last text received (0: none yet)

	// Receive-buffer auto-tuning (autotune.go).
	rcvCopied  uint32
	rcvSpaceAt Instant

	stats *Stats // nil until the first counted event (count)

	// Drops counts segments discarded as unacceptable, for stats.
	Drops uint64
}

type tcbFlags uint16

const (
	flagWS          tcbFlags = 1 << iota // window scaling negotiated
	flagTS                               // timestamps negotiated
	flagSACK                             // SACK negotiated
	flagPassive                          // opened from LISTEN (for SYN-RECEIVED + RST)
	flagFinQueued                        // CLOSE: FIN goes after the queued text
	flagFinRecvd                         // the peer's FIN was processed (EOF)
	flagOrphan                           // the application closed fully (Close)
	flagPeerFinOOO                       // a FIN arrived beyond RCV.NXT, kept in ooo.fin
	flagTSRecentSet                      // tsRecent holds a value
	flagSynOnly                          // SYN-RECEIVED from a simultaneous open
	flagInSynQ                           // counted in its Listener's SYN queue
	flagRTT                              // srtt/rttvar hold a measurement
	flagAckNow                           // an ACK is due before the call returns
	flagSoftErr                          // an ICMP unreachable came (RFC 1122 §4.2.3.9), reported if the connection times out (pmtu.go)
)

func (t *TCB) has(f tcbFlags) bool { return t.flags&f != 0 }

// newTCB makes a CLOSED TCB with its buffers allocated.
func newTCB(cfg *Config, id ID, sink Sink) *TCB { return initTCB(nil, cfg, id, sink) }

// initTCB makes t (a new TCB if nil) a fresh CLOSED TCB, reusing its
// buffers when they have the configured sizes, so a recycled connection
// allocates nothing. Range storage and sender state still held go back
// to their pools; without a SenderPool the sender state (transmit
// records, RACK, rate sampling) stays, reset, the record ring's memory
// kept.
func initTCB(t *TCB, cfg *Config, id ID, sink Sink) *TCB {
	if t == nil {
		t = &TCB{}
	}
	// The buffers' chunks go back; the queues keep their pools.
	t.snd.release()
	t.rcv.release()
	if t.cfg != nil {
		t.dropRanges() // to the pool of the loop they came from
		if t.rec.x != nil && t.cfg.Senders != nil {
			t.cfg.Senders.put(t.rec.x)
			t.rec.x = nil
		}
	}
	snd, rcv, x := t.snd, t.rcv, t.rec.x
	*t = TCB{cfg: cfg, sink: flowSink(sink, &id, t.sink), snd: snd, rcv: rcv}
	if x != nil {
		x.reset()
		t.rec.x = x
	}
	t.snd.init(cfg.Pool, cfg.SendBuffer, false)
	t.rcv.init(cfg.Pool, cfg.RecvBuffer, true)
	t.ss.init(cfg.MSS)
	t.cc = t.builtinCC()
	t.rtoAt, t.persistAt, t.delackAt, t.keepAt, t.stateAt = Never, Never, Never, Never, Never
	t.rttAt = Never
	t.rto = cfg.InitialRTO
	t.quickAcks = uint8(min(cfg.QuickACKs, 255))
	return t
}

// takeTSOffset sets the connection's timestamp offset (RFC 7323 §5.4),
// a keyed hash of its 4-tuple. It is taken where timestamps may come
// into use, not in initTCB: our SYN (connect), a listening TCB, a
// Listener's child whose SYN offers them; a passive connection without
// timestamps never reads it, and a SYN then costs one SipHash less.
func (t *TCB) takeTSOffset() {
	if t.cfg.TSOffset != nil {
		t.tsOffset = t.cfg.TSOffset(t.flow())
	}
}

// Open performs an active OPEN (RFC 9293 §3.10.1): a new TCB in SYN-SENT
// that has emitted its SYN.
func Open(cfg *Config, id ID, sink Sink, now Instant) *TCB {
	return OpenReuse(nil, cfg, id, sink, now)
}

// OpenReuse is Open on a recycled TCB t (nil allocates): the owner's free
// list of closed TCBs makes connections cost no allocation. t must not
// be in use: its state, and anything a previous connection left in its
// buffers, is discarded (the buffer memory is kept when its size fits).
func OpenReuse(t *TCB, cfg *Config, id ID, sink Sink, now Instant) *TCB {
	t = initTCB(t, cfg, id, sink)
	t.connect(now)
	return t
}

// NewListen performs a passive OPEN for one connection (RFC 9293 §3.10.1):
// a TCB in LISTEN that turns into SYN-RECEIVED on the first SYN from the
// remote end named by id (an unspecified RemoteAddr or zero RemotePort
// matches any). Servers use Listener instead, which hands out one TCB per
// connection; this form exists for the full RFC state diagram (LISTEN →
// SYN-SENT via Connect, SYN-RECEIVED → LISTEN on RST).
func NewListen(cfg *Config, id ID, sink Sink) *TCB {
	t := newTCB(cfg, id, sink)
	t.takeTSOffset()
	t.setState(Listen)
	t.flags |= flagPassive
	return t
}

// Connect turns a LISTEN TCB into an active opener (RFC 9293 §3.10.2,
// SEND in LISTEN: "if the foreign socket is specified, then change the
// connection from passive to active, select an ISS"). id must name the
// remote end.
func (t *TCB) Connect(id ID, now Instant) error {
	if t.state != Listen {
		return ErrClosed
	}
	if w, ok := t.sink.(interface{ keep(ID) }); ok {
		w.keep(id) // an idSink's; a FlowSink's owner names it itself
	}
	t.flags &^= flagPassive
	t.connect(now)
	return nil
}

func (t *TCB) connect(now Instant) {
	t.takeTSOffset()
	t.iss = t.chooseISS(now)
	t.sndUna, t.sndNxt, t.sndMax = t.iss, t.iss, t.iss
	t.sndBufSeq = t.iss + 1
	t.sndSml = t.iss
	t.setState(SynSent)
	t.sendSYN(now, false)
	t.sndNxt, t.sndMax = t.iss+1, t.iss+1
	t.timeSYN(now)
	t.armRTO(now)
}

// timeSYN starts timing our SYN or SYN-ACK (its ACK gives the first RTT
// sample, as Linux takes one from the handshake: without it an active
// open, or a passive one without timestamps, starts with the 1 s initial
// RTO and no tail loss probe; issue 14 item 8). A retransmission of it
// stops the timing (Karn, in retransmitTimeout).
func (t *TCB) timeSYN(now Instant) { t.rttAt, t.rttSeq = now, t.iss+1 }

func (t *TCB) chooseISS(now Instant) Seq {
	if t.l != nil && t.l.reopen {
		return t.l.reopenISS
	}
	if t.cfg.ISN != nil {
		return t.cfg.ISN(t.flow(), now)
	}
	id := t.sink.FlowID(t)
	// RFC 9293 §3.4.1's clock (one tick per 4 µs) plus a hash of the
	// 4-tuple, so that different flows do not share a sequence space.
	h := uint32(2166136261)
	for _, b := range id.RemoteAddr.As16() {
		h = (h ^ uint32(b)) * 16777619
	}
	h = (h ^ uint32(id.LocalPort)<<16 ^ uint32(id.RemotePort)) * 16777619
	return Seq(h + uint32(now/4000))
}

// State returns the current state.
func (t *TCB) State() State { return t.state }

// Err returns why the connection closed (nil for a graceful close).
func (t *TCB) Err() error { return t.err }

// Events returns the events raised since the last call and clears them.
func (t *TCB) Events() Event { e := t.events; t.events = 0; return e }

// SetNoDelay switches Nagle's algorithm off (true) or on for this TCB.
func (t *TCB) SetNoDelay(on bool) {
	// Config is shared; per-connection Nagle lives in quickAcks' neighbour.
	if on {
		t.flags |= flagNoDelay
	} else {
		t.flags &^= flagNoDelay
	}
}

const flagNoDelay tcbFlags = 1 << 15

// Vars is a snapshot of the sequence variables, for tests, stats and the
// handoff to a compact TIME-WAIT table.
type Vars struct {
	ISS, IRS, SndUna, SndNxt, SndMax, RcvNxt Seq
	SndWnd, RcvWnd                           uint32
	SndWScale, RcvWScale                     uint8
	SndMSS                                   uint16
	TS, SACK                                 bool
	TSRecent, TSOffset                       uint32
	RTO                                      time.Duration
	SendQueued, RecvQueued                   int
	Deadline                                 Instant // TIME-WAIT / FIN-WAIT-2 expiry
}

// Vars returns the connection's sequence variables.
func (t *TCB) Vars() Vars {
	return Vars{
		ISS: t.iss, IRS: t.irs, SndUna: t.sndUna, SndNxt: t.sndNxt, SndMax: t.sndMax,
		RcvNxt: t.rcvNxt, SndWnd: t.sndWnd, RcvWnd: t.rcvAdv.Sub(t.rcvNxt),
		SndWScale: t.sndWScale, RcvWScale: t.rcvWScale, SndMSS: t.sndMSS,
		TS: t.has(flagTS), SACK: t.has(flagSACK), TSRecent: t.tsRecent, TSOffset: t.tsOffset,
		RTO: t.rto, SendQueued: t.snd.n, RecvQueued: t.rcv.n, Deadline: t.stateAt,
	}
}

// Deadline is the next instant at which the owner must call OnTimer
// (Never if no timer is armed).
func (t *TCB) Deadline() Instant {
	return min(t.rtoAt, t.persistAt, t.delackAt, t.keepAt, t.stateAt)
}

// OnTimer runs every timer that is due at now (RFC 9293 §3.10.8).
func (t *TCB) OnTimer(now Instant) {
	if t.stateAt <= now {
		t.stateAt = Never
		t.stateTimeout(now)
		if t.state == Closed {
			return
		}
	}
	if t.rtoAt <= now {
		t.rtoAt = Never
		if t.rec.flags&recPTO != 0 {
			t.probeTimeout(now)
		} else {
			t.retransmitTimeout(now)
		}
		if t.state == Closed {
			return
		}
	}
	if t.persistAt <= now {
		t.persistAt = Never
		t.persistTimeout(now)
		if t.state == Closed {
			return
		}
	}
	if t.keepAt <= now {
		t.keepAt = Never
		t.keepaliveTimeout(now)
		if t.state == Closed {
			return
		}
	}
	if t.delackAt <= now {
		t.delackAt = Never
		if t.ackPending > 0 || t.state.synchronized() {
			t.sendACK(now)
		}
	}
}

// setState moves to s, raising the events the application sees. Every
// state change goes through it, so that tests can check each against
// RFC 9293's diagram (transitionHook, legalTransition).
func (t *TCB) setState(s State) {
	prev := t.state
	t.state = s
	if transitionHook != nil {
		transitionHook(t, prev, s)
	}
	if s == Established && prev != Established {
		t.events |= EventEstablished | EventWritable
	}
}

// closeWith ends the connection: CLOSED, every timer disarmed, err kept.
// The TCB's buffers stay allocated; the owner frees the TCB on
// EventClosed.
func (t *TCB) closeWith(err error) {
	t.setState(Closed)
	t.dropRanges()
	if err == ErrTimeout && t.has(flagSoftErr) {
		err = ErrUnreachable // RFC 1122 §4.2.3.9: report the soft error
	}
	if t.err == nil {
		t.err = err
	}
	t.rtoAt, t.persistAt, t.delackAt, t.keepAt, t.stateAt = Never, Never, Never, Never, Never
	t.events |= EventClosed | EventReadable | EventWritable
	if t.l != nil {
		t.l.childGone(t)
	}
}
