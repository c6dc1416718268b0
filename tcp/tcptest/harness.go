// Package tcptest is a packet-level harness for the tcp engine: a test
// reads as a script — segment in, segments expected out, state — on a
// virtual clock that only moves when the test says so.
//
//	h := tcptest.New(t, tcp.DefaultConfig())
//	h.Listen()
//	h.In(tcptest.Seg{Flags: tcp.FlagSYN, Seq: 100})
//	h.Out(tcptest.Seg{Flags: tcp.FlagSYN | tcp.FlagACK, Seq: tcptest.ISS, Ack: 101})
//	h.State(tcp.SynReceived)
//	h.Advance(2 * cfg.MSL)
//
// It also has Link, two engines joined by a lossy in-memory wire.
package tcptest

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/tcp/tcpcheck"
)

// ISS is the initial send sequence number the harness gives its engine.
const ISS tcp.Seq = 1000

// Start is the virtual clock's origin.
const Start tcp.Instant = 1_000_000_000

// Local and Remote are the harness's endpoints (RFC 2544 test range).
var (
	Local  = netip.MustParseAddrPort("198.18.0.1:80")
	Remote = netip.MustParseAddrPort("198.18.0.2:40000")
)

// DefaultID is the 4-tuple of the connection under test.
func DefaultID() tcp.ID {
	return tcp.ID{LocalAddr: Local.Addr(), RemoteAddr: Remote.Addr(), LocalPort: Local.Port(), RemotePort: Remote.Port()}
}

// Seg is a segment as a script writes it. In expectations, Flags, Seq and
// Ack (when ACK or RST|ACK is set) and Data are always compared; Win only
// with CheckWin, options only with CheckOpts.
type Seg struct {
	Flags     tcp.Flags
	Seq, Ack  tcp.Seq
	Win       uint16
	Opts      tcp.Options
	Data      []byte
	CheckWin  bool
	CheckOpts bool
}

func (s Seg) String() string {
	return fmt.Sprintf("<SEQ=%d><ACK=%d><CTL=%v><WND=%d><LEN=%d>", s.Seq, s.Ack, s.Flags, s.Win, len(s.Data))
}

// Emitted is a segment the engine sent, copied out of the Sink call.
type Emitted struct {
	ID  tcp.ID
	Seg tcp.Segment
}

func (e Emitted) String() string {
	s := e.Seg
	return fmt.Sprintf("<SEQ=%d><ACK=%d><CTL=%v><WND=%d><LEN=%d>", s.Seq, s.Ack, s.Flags, s.Window, len(s.Payload))
}

// H is a harness around one connection (TCB), a standalone LISTEN TCB,
// or a Listener with its children.
type H struct {
	T   testing.TB
	Cfg *tcp.Config
	Now tcp.Instant
	ID  tcp.ID

	TCB      *tcp.TCB
	L        *tcp.Listener
	Children map[tcp.ID]*tcp.TCB

	// Check sees every segment in and out (tcp/tcpcheck); a test that
	// provokes what it flags on purpose narrows Check.Checks.
	Check *tcpcheck.Checker

	out    []Emitted
	events tcp.Event
	peerTS bool   // stamp the peer's segments (HandshakeWith)
	lastTS uint32 // the engine's latest TSval

	// RTT is the time HandshakeWith lets pass between our SYN and the
	// peer's SYN,ACK (the engine's first RTT sample).
	RTT time.Duration
}

// New makes a harness; cfg.ISN is fixed to ISS unless set.
func New(t testing.TB, cfg tcp.Config) *H {
	if cfg.ISN == nil {
		cfg.ISN = func(*tcp.ID, tcp.Instant) tcp.Seq { return ISS }
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return &H{T: t, Cfg: &cfg, Now: Start, ID: DefaultID(), Children: map[tcp.ID]*tcp.TCB{}, Check: NewChecker(t, &cfg)}
}

// Emit implements tcp.Sink by copying the segment, its text flattened
// into Payload.
func (h *H) Emit(id *tcp.ID, seg *tcp.Segment) {
	checkOut(h.Check, id, seg, h.Now)
	if seg.Options.HasTS {
		h.lastTS = seg.Options.TSVal
	}
	h.out = append(h.out, Emitted{ID: *id, Seg: Flatten(seg)})
}

// TakesTail makes H a tcp.TailSink, so the engine's two-run output is
// what the tests see (flattened).
func (h *H) TakesTail() {}

// Flatten returns a copy of seg whose text (Payload and Tail) is in
// Payload alone, in memory of its own: for a Sink that keeps segments.
func Flatten(seg *tcp.Segment) tcp.Segment {
	c := *seg
	c.SetPayload(nil)
	if seg.TextLen() > 0 {
		c.SetPayload(seg.AppendText(make([]byte, 0, seg.TextLen())))
	}
	return c
}

// Dial performs an active open (SYN-SENT).
func (h *H) Dial() *tcp.TCB {
	h.TCB = tcp.Open(h.Cfg, h.ID, h, h.Now)
	return h.TCB
}

// Listen makes a standalone passive TCB in LISTEN.
func (h *H) Listen() *tcp.TCB {
	h.TCB = tcp.NewListen(h.Cfg, h.ID, h)
	return h.TCB
}

// Listener makes a Listener; In routes segments to its children.
func (h *H) Listener() *tcp.Listener {
	h.L = tcp.NewListener(h.Cfg, h)
	return h.L
}

// Seg converts a script segment into an engine segment.
func (s Seg) Segment() tcp.Segment {
	return tcp.Segment{Seq: s.Seq, Ack: s.Ack, Flags: s.Flags, Window: s.Win, Options: s.Opts, Payload: s.Data}
}

// In delivers a segment from the default remote end.
func (h *H) In(s Seg) { h.InFrom(h.ID, s) }

// InFrom delivers a segment for 4-tuple id: to the TCB under test, a
// Listener child, or the Listener.
func (h *H) InFrom(id tcp.ID, s Seg) {
	h.T.Helper()
	if s.Win == 0 && !s.CheckWin {
		s.Win = 65535
	}
	if h.peerTS && !s.Opts.HasTS && s.Flags&tcp.FlagRST == 0 {
		s.Opts.HasTS, s.Opts.TSVal, s.Opts.TSEcr = true, uint32(h.Now/1e6), h.lastTS
	}
	seg := s.Segment()
	checkIn(h.Check, &id, &seg, h.Now)
	defer h.engines(func(t *tcp.TCB) { CheckVars(h.T, t) })
	switch {
	case h.L != nil:
		if c := h.Children[id]; c != nil && c.State() != tcp.Closed {
			c.Input(&seg, h.Now)
			h.collect(c)
			return
		}
		if c := h.L.Input(&id, &seg, h.Now); c != nil {
			h.Children[id] = c
			if id == h.ID {
				h.TCB = c
			}
			h.collect(c)
		}
	case h.TCB != nil:
		h.TCB.Input(&seg, h.Now)
		h.collect(h.TCB)
	default:
		h.T.Fatal("tcptest: no engine (call Dial, Listen or Listener)")
	}
}

func (h *H) collect(t *tcp.TCB) {
	if t == h.TCB {
		h.events |= t.Events()
	}
}

// Events returns the events of the connection under test since the last
// call.
func (h *H) Events() tcp.Event {
	if h.TCB != nil {
		h.events |= h.TCB.Events()
	}
	e := h.events
	h.events = 0
	return e
}

// Take returns and forgets every segment emitted so far.
func (h *H) Take() []Emitted {
	o := h.out
	h.out = nil
	return o
}

// Out checks that exactly want was emitted since the last check, in order.
func (h *H) Out(want ...Seg) {
	h.T.Helper()
	got := h.Take()
	if len(got) != len(want) {
		h.T.Fatalf("emitted %d segments %v, want %d %v", len(got), got, len(want), want)
	}
	for i := range want {
		if msg := match(want[i], got[i].Seg); msg != "" {
			h.T.Fatalf("segment %d: %s\n got %v\nwant %v", i, msg, got[i], want[i])
		}
	}
}

// NoOut checks that nothing was emitted.
func (h *H) NoOut() { h.T.Helper(); h.Out() }

func match(w Seg, g tcp.Segment) string {
	switch {
	case w.Flags != g.Flags:
		return fmt.Sprintf("flags %v, want %v", g.Flags, w.Flags)
	case w.Seq != g.Seq:
		return fmt.Sprintf("seq %d, want %d", g.Seq, w.Seq)
	case w.Flags&tcp.FlagACK != 0 && w.Ack != g.Ack:
		return fmt.Sprintf("ack %d, want %d", g.Ack, w.Ack)
	case !bytes.Equal(w.Data, g.Payload):
		return fmt.Sprintf("payload %q, want %q", g.Payload, w.Data)
	case w.CheckWin && w.Win != g.Window:
		return fmt.Sprintf("window %d, want %d", g.Window, w.Win)
	case w.CheckOpts && w.Opts != g.Options:
		return fmt.Sprintf("options %+v, want %+v", g.Options, w.Opts)
	}
	return ""
}

// State checks the state of the connection under test.
func (h *H) State(s tcp.State) {
	h.T.Helper()
	if h.TCB == nil {
		h.T.Fatalf("no connection, want %v", s)
	}
	if got := h.TCB.State(); got != s {
		h.T.Fatalf("state %v, want %v", got, s)
	}
}

// engines lists every TCB the harness drives.
func (h *H) engines(f func(*tcp.TCB)) {
	if h.TCB != nil {
		f(h.TCB)
	}
	for _, c := range h.Children {
		if c != h.TCB {
			f(c)
		}
	}
}

// Advance moves the virtual clock by d, firing every timer at exactly its
// deadline on the way.
func (h *H) Advance(d time.Duration) {
	target := h.Now.Add(d)
	for range 1_000_000 {
		next := tcp.Never
		h.engines(func(t *tcp.TCB) { next = min(next, t.Deadline()) })
		if next > target {
			break
		}
		h.Now = max(h.Now, next)
		h.engines(func(t *tcp.TCB) {
			if t.Deadline() <= h.Now {
				t.OnTimer(h.Now)
				h.collect(t)
			}
		})
	}
	h.Now = target
	h.engines(func(t *tcp.TCB) { CheckVars(h.T, t) })
}

// Handshake takes a fresh harness through an active open to ESTABLISHED
// with a peer whose ISS is irs and who offers no options. It returns the
// peer's next sequence number.
func (h *H) Handshake(irs tcp.Seq) tcp.Seq {
	h.T.Helper()
	return h.HandshakeWith(irs, tcp.Options{})
}

// Option sets a peer may offer in its SYN, for tests run under each.
var (
	// PeerPlain offers nothing (MSS 536, no SACK, no timestamps).
	PeerPlain = tcp.Options{}
	// PeerLinux offers what Linux does: MSS, SACK, timestamps, scale 7.
	PeerLinux = tcp.Options{MSS: 1460, SACKPermitted: true, HasTS: true, TSVal: 1, HasWScale: true, WScale: 7}
	// PeerSACK offers SACK without timestamps (Windows by default).
	PeerSACK = tcp.Options{MSS: 1460, SACKPermitted: true}
	// PeerTS offers timestamps without SACK.
	PeerTS = tcp.Options{MSS: 1460, HasTS: true, TSVal: 1}
)

// PeerOptionSets names the option sets for table tests.
var PeerOptionSets = []struct {
	Name string
	Opts tcp.Options
}{{"plain", PeerPlain}, {"linux", PeerLinux}, {"sack", PeerSACK}, {"ts", PeerTS}}

// HandshakeWith is Handshake with a peer whose SYN,ACK offers synOpts.
// When timestamps are negotiated, every later segment In gives carries
// one (TSval on the harness clock, TSecr the engine's latest TSval)
// unless the script sets its own.
func (h *H) HandshakeWith(irs tcp.Seq, synOpts tcp.Options) tcp.Seq {
	h.T.Helper()
	h.Dial()
	syn := h.Take()
	if len(syn) != 1 || syn[0].Seg.Flags != tcp.FlagSYN || syn[0].Seg.Seq != ISS {
		h.T.Fatalf("emitted %v, want our SYN", syn)
	}
	if synOpts.HasTS {
		synOpts.TSEcr = syn[0].Seg.Options.TSVal
	}
	h.Advance(h.RTT)
	h.In(Seg{Flags: tcp.FlagSYN | tcp.FlagACK, Seq: irs, Ack: ISS + 1, Opts: synOpts})
	h.Out(Seg{Flags: tcp.FlagACK, Seq: ISS + 1, Ack: irs + 1})
	h.State(tcp.Established)
	h.Events()
	h.peerTS = synOpts.HasTS && h.TCB.Vars().TS
	return irs + 1
}

// Accept takes a fresh harness through a passive open (standalone LISTEN
// TCB) to ESTABLISHED. It returns the peer's next sequence number.
func (h *H) Accept(irs tcp.Seq) tcp.Seq {
	h.T.Helper()
	return h.AcceptWith(irs, tcp.Options{})
}

// AcceptWith is Accept with options on the peer's SYN (a TSval in them is
// repeated, one higher, on the ACK).
func (h *H) AcceptWith(irs tcp.Seq, synOpts tcp.Options) tcp.Seq {
	h.T.Helper()
	h.Listen()
	h.In(Seg{Flags: tcp.FlagSYN, Seq: irs, Opts: synOpts})
	h.Out(Seg{Flags: tcp.FlagSYN | tcp.FlagACK, Seq: ISS, Ack: irs + 1})
	var o tcp.Options
	if synOpts.HasTS {
		o = tcp.Options{HasTS: true, TSVal: synOpts.TSVal + 1}
	}
	h.In(Seg{Flags: tcp.FlagACK, Seq: irs + 1, Ack: ISS + 1, Opts: o})
	h.NoOut()
	h.State(tcp.Established)
	h.Events()
	return irs + 1
}
