// Package tcpcheck is an output checker for TCP: it watches the segments
// of connections (both directions) and reports the ones a correct sender
// never emits. Tests put it on every TCB they drive (tcptest's harness
// and Link, FuzzTCB, sched's pipe and system tests, the impair rig), so a
// class of defect shows in every test rather than in one that knew to
// look for it.
//
// Checks, each on by default (Checks):
//
//   - CheckSize: a segment's options and text fit in the link (MaxSegment:
//     the MTU less the IP and TCP fixed headers) and in the peer's MSS
//     (RFC 9293 §3.7.1: the MSS counts the options the segment carries
//     beyond the fixed header, RFC 6691 §2).
//   - CheckEdge: the right edge a sender advertises, SEG.ACK +
//     SEG.WND<<scale, never moves left (RFC 9293 §3.8.6, RFC 7323 §2.4).
//   - CheckWindow: no text beyond the largest right edge the peer
//     advertised, except a 1-octet probe (§3.8.6.1); a FIN may take one
//     sequence number beyond it.
//   - CheckBackoff: retransmissions of one segment that nothing from the
//     peer separated (timer-driven: RTO, PTO) come at gaps that never
//     shrink (RFC 6298 §5.5). A cumulative ACK that moves resets the
//     series (RFC 6298 §5.7 lets the RTO be recomputed).
//   - CheckFrame (Frame only): the frame parses and its checksums
//     verify (wire.ParseFrame). CheckSize there also bounds the IP
//     datagram by MTU.
//
// The peer's options are those of its SYN that the checked side
// acknowledged (SEG.ACK = its ISN+1, on its SYN-ACK or on its first ACK
// after its own SYN): a SYN the TCB refused teaches the checker nothing.
// A SYN with a new ISN starts a new incarnation of its side.
//
// The checker is safe for concurrent use (a sched tap calls it from
// every loop).
package tcpcheck

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/sluicenet/sluice/wire"
)

// Check is a set of checks.
type Check uint8

const (
	CheckSize Check = 1 << iota
	CheckEdge
	CheckWindow
	CheckBackoff
	CheckFrame

	AllChecks = CheckSize | CheckEdge | CheckWindow | CheckBackoff | CheckFrame
)

// Seg is what the checker needs of a segment.
type Seg struct {
	Seq, Ack uint32
	Flags    uint8 // wire.TCPFlag*
	Window   uint16
	Options  wire.TCPOptions
	Len      int // text octets
}

// Endpoint names one end of a connection.
type Endpoint = netip.AddrPort

// Checker watches connections. Set its fields before the first segment.
type Checker struct {
	// Checks are the checks in force (when zero, all but those the
	// engine is known to fail).
	Checks Check
	// MaxSegment is the most option and text octets one segment may
	// carry on the link (the MTU less the IP and TCP fixed headers); 0
	// skips that half of CheckSize. Frame derives it from MTU.
	MaxSegment int
	// MTU bounds IP datagrams seen by Frame (0: not checked).
	MTU int
	// Slack is the tolerance of CheckBackoff for a wall clock (a timer
	// that fired late makes the next gap look shorter); 0 for virtual
	// clocks.
	Slack time.Duration
	// Fail, if set, is called once per violation with its report.
	Fail func(msg string)

	mu     sync.Mutex
	conns  map[key]*conn
	first  string
	errors int
	frame  wire.Frame
	start  int64
	began  bool
}

type key struct{ a, b Endpoint }

// conn is one connection as seen by the checker; side[i] is what the
// end that sends from key.a (i=0) or key.b (i=1) has shown.
type conn struct {
	side [2]side
	hist [histLen]event // recent segments, both ways (a ring)
	n    int            // events recorded
}

type event struct {
	at       int64
	src, dst Endpoint
	s        Seg
}

type side struct {
	issSet bool
	iss    uint32
	syn    wire.TCPOptions // options of its SYN (valid when issSet)
	// pending is the peer's latest SYN, until this side acknowledges it.
	pendSet  bool
	pendSeq  uint32
	pendOpts wire.TCPOptions
	peerSet  bool // this side acknowledged a peer SYN: peerSyn holds it
	peerSyn  wire.TCPOptions
	peerIRS  uint32

	edgeSet bool
	edge    uint32 // highest right edge this side advertised
	// peerEdge is the highest right edge the peer advertised to this side.
	peerEdgeSet bool
	peerEdge    uint32
	// ackSet/ack: the highest cumulative ACK the peer sent (series reset).
	ackSet bool
	ack    uint32
	heard  uint64 // segments received from the peer
	tx     map[uint32]*txSeries
	// txMax is the end of the highest sequence number sent: a segment
	// starting below it repeats something.
	txMaxSet bool
	txMax    uint32
}

// txSeries is the transmissions of one sequence number.
type txSeries struct {
	at    int64
	gap   int64 // the previous gap, 0 when none counts
	heard uint64
	timer bool // the last transmission was timer-driven
}

const histLen = 48

// MinPeerMSS is the floor a sender puts under the peer's MSS (Linux's
// tcp_min_snd_mss, 40 option octets and 8 of text): a smaller MSS is a
// resource attack (CVE-2019-11479), and segments up to it are allowed.
const MinPeerMSS = 48

// Err returns the first violation seen, or nil.
func (c *Checker) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.errors == 0 {
		return nil
	}
	return fmt.Errorf("tcpcheck: %d violation(s); first: %s", c.errors, c.first)
}

// knownDefects are the checks the engine still fails (issue 14); each
// joins the default set with the fix of its defect.
const knownDefects Check = 0

func (c *Checker) checks() Check {
	if c.Checks == 0 {
		return AllChecks &^ knownDefects
	}
	return c.Checks
}

// Segment records a segment sent from src to dst at now (nanoseconds on
// any monotonic clock) and checks it as the output of src.
func (c *Checker) Segment(src, dst Endpoint, s *Seg, now int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.segment(src, dst, s, now, c.MaxSegment, true)
}

// Peer records a segment from src to dst without checking it: src is
// not a stack under test (a test's script, a hostile peer), but what it
// says (SYN options, windows, ACKs) shapes what dst may send.
func (c *Checker) Peer(src, dst Endpoint, s *Seg, now int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.segment(src, dst, s, now, 0, false)
}

func (c *Checker) segment(src, dst Endpoint, s *Seg, now int64, maxSeg int, check bool) {
	if !c.began {
		c.began, c.start = true, now
	}
	if c.conns == nil {
		c.conns = map[key]*conn{}
	}
	k, i := key{src, dst}, 0
	if cmpEndpoint(dst, src) < 0 {
		k, i = key{dst, src}, 1
	}
	cn := c.conns[k]
	if cn == nil {
		cn = &conn{}
		c.conns[k] = cn
	}
	me, peer := &cn.side[i], &cn.side[1-i]
	cn.hist[cn.n%histLen] = event{now, src, dst, *s}
	cn.n++
	syn := s.Flags&wire.TCPFlagSYN != 0
	ack := s.Flags&wire.TCPFlagACK != 0
	rst := s.Flags&wire.TCPFlagRST != 0
	if syn && !rst {
		if me.issSet && me.iss != s.Seq {
			// A new incarnation from this end.
			*me = side{}
		}
		me.issSet, me.iss, me.syn = true, s.Seq, s.Options
		// The peer may hold it as pending.
		peer.pendSet, peer.pendSeq, peer.pendOpts = true, s.Seq, s.Options
	}
	if ack && !rst && me.pendSet && s.Ack == me.pendSeq+1 && (syn || !me.peerSet) {
		// This end acknowledges the peer's SYN with its SYN-ACK, or with
		// its first ACK after its own SYN: it took the SYN's options. (A
		// challenge ACK to a SYN in a synchronized state may carry the
		// same number; it teaches nothing.)
		if me.peerSet && me.peerIRS != me.pendSeq {
			me.edgeSet, me.peerEdgeSet, me.ackSet, me.tx = false, false, false, nil
		}
		me.peerSet, me.peerSyn, me.peerIRS = true, me.pendOpts, me.pendSeq
		me.pendSet = false
	}
	if !rst && check {
		c.checkSize(cn, me, src, s, maxSeg)
		c.checkEdge(cn, me, s)
		c.checkWindow(cn, me, s)
		c.checkBackoff(cn, me, s, now)
	}
	// What the peer learns from this segment.
	peer.heard++
	if ack && !rst {
		if !peer.ackSet || seqGT(s.Ack, peer.ack) {
			peer.ackSet, peer.ack = true, s.Ack
			clear(peer.tx) // RFC 6298 §5.7: a new ACK may reset the backoff
		}
		if e, ok := me.rightEdge(s); ok && (!peer.peerEdgeSet || seqGT(e, peer.peerEdge)) {
			peer.peerEdgeSet, peer.peerEdge = true, e
		}
	}
}

// scale is the shift this side applies to the windows it sends: its own
// SYN's, when both SYNs offered window scaling (RFC 7323 §2.2).
func (me *side) scale() (uint8, bool) {
	if !me.issSet || !me.peerSet {
		return 0, false
	}
	if me.syn.HasWScale && me.peerSyn.HasWScale {
		return min(me.syn.WScale, wire.MaxWScale), true
	}
	return 0, true
}

// rightEdge is SEG.ACK + SEG.WND<<scale of a segment me sent; the window
// of a SYN is never scaled.
func (me *side) rightEdge(s *Seg) (uint32, bool) {
	if s.Flags&wire.TCPFlagSYN != 0 {
		return s.Ack + uint32(s.Window), true
	}
	sc, ok := me.scale()
	if !ok {
		return 0, false
	}
	return s.Ack + uint32(s.Window)<<sc, true
}

func (c *Checker) checkSize(cn *conn, me *side, src Endpoint, s *Seg, maxSeg int) {
	if c.checks()&CheckSize == 0 {
		return
	}
	n := wire.TCPOptionsLen(&s.Options) + s.Len
	if maxSeg > 0 && n > maxSeg {
		c.fail(cn, fmt.Sprintf("%d option and text octets exceed the link's %d", n, maxSeg))
		return
	}
	if s.Flags&wire.TCPFlagSYN != 0 || !me.peerSet {
		return
	}
	mss := int(me.peerSyn.MSS)
	if mss == 0 {
		mss = 536 // RFC 9293 §3.7.1 MUST-15
		if a := src.Addr(); a.Is6() && !a.Is4In6() {
			mss = 1220
		}
	}
	mss = max(mss, MinPeerMSS)
	if n > mss && s.Len > 0 {
		c.fail(cn, fmt.Sprintf("%d option and text octets exceed the peer's MSS %d", n, mss))
	}
}

func (c *Checker) checkEdge(cn *conn, me *side, s *Seg) {
	if s.Flags&wire.TCPFlagACK == 0 {
		return
	}
	e, ok := me.rightEdge(s)
	if !ok {
		return
	}
	if me.edgeSet && seqLT(e, me.edge) && c.checks()&CheckEdge != 0 {
		c.fail(cn, fmt.Sprintf("right edge moved left by %d (to %d from %d)", me.edge-e, e, me.edge))
	}
	if !me.edgeSet || seqGT(e, me.edge) {
		me.edgeSet, me.edge = true, e
	}
}

func (c *Checker) checkWindow(cn *conn, me *side, s *Seg) {
	if c.checks()&CheckWindow == 0 || s.Len == 0 || !me.peerEdgeSet {
		return
	}
	end := s.Seq + uint32(s.Len)
	if seqGT(end, me.peerEdge) && s.Len > 1 {
		c.fail(cn, fmt.Sprintf("text to %d beyond the peer's right edge %d", end, me.peerEdge))
	}
}

func (c *Checker) checkBackoff(cn *conn, me *side, s *Seg, now int64) {
	if s.Len == 0 && s.Flags&(wire.TCPFlagSYN|wire.TCPFlagFIN) == 0 {
		return // pure ACKs and probes (SEQ=SND.UNA-1) are not retransmissions
	}
	if me.ackSet && seqLT(s.Seq, me.ack) && s.Flags&wire.TCPFlagSYN == 0 {
		return
	}
	if me.tx == nil {
		me.tx = map[uint32]*txSeries{}
	}
	end := s.Seq + uint32(s.Len)
	if s.Flags&(wire.TCPFlagSYN|wire.TCPFlagFIN) != 0 {
		end++
	}
	// A retransmission may be cut differently from the segments it
	// repeats (a smaller window, a shrunk MSS, Nagle): every sequence
	// number recorded inside it is sent again. Originals skip the scan.
	if me.txMaxSet && seqLT(s.Seq, me.txMax) {
		for k, x := range me.tx {
			switch {
			case me.ackSet && seqLT(k, me.ack):
				delete(me.tx, k) // acknowledged: no more transmissions to time
			case seqGT(k, s.Seq) && seqLT(k, end):
				c.timeTx(cn, me, k, x, now)
			}
		}
	}
	if !me.txMaxSet || seqGT(end, me.txMax) {
		me.txMaxSet, me.txMax = true, end
	}
	x := me.tx[s.Seq]
	if x == nil {
		if len(me.tx) > 4096 {
			clear(me.tx)
		}
		me.tx[s.Seq] = &txSeries{at: now, heard: me.heard}
		return
	}
	c.timeTx(cn, me, s.Seq, x, now)
}

// timeTx records another transmission of seq and checks it backed off.
func (c *Checker) timeTx(cn *conn, me *side, seq uint32, x *txSeries, now int64) {
	// A transmission with nothing from the peer since the previous one
	// is a timer's doing. Only gaps between two of those count: the one
	// before runs from a transmission that may not have (re)started the
	// timer (an original, a reply to the peer).
	gap, quiet := now-x.at, x.heard == me.heard
	if quiet && x.gap > 0 && gap+int64(c.Slack) < x.gap && c.checks()&CheckBackoff != 0 {
		c.fail(cn, fmt.Sprintf("retransmission of %d after %v, the previous gap was %v",
			seq, time.Duration(gap), time.Duration(x.gap)))
	}
	x.gap = 0
	if quiet && x.timer {
		x.gap = gap
	}
	x.at, x.heard, x.timer = now, me.heard, quiet
}

// History returns the latest segments of the connection between a and
// b, one a line, for a test's failure message.
func (c *Checker) History(a, b Endpoint) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := key{a, b}
	if cmpEndpoint(b, a) < 0 {
		k = key{b, a}
	}
	return c.history(c.conns[k])
}

func (c *Checker) history(cn *conn) string {
	if cn == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString("segments (latest last):")
	for i := max(0, cn.n-histLen); i < cn.n; i++ {
		e := &cn.hist[i%histLen]
		fmt.Fprintf(&b, "\n  %+.6fs %v > %v %s", float64(e.at-c.start)/1e9, e.src, e.dst, describe(&e.s))
	}
	return b.String()
}

func (c *Checker) fail(cn *conn, what string) {
	msg := what
	if cn != nil {
		msg += "\n" + c.history(cn)
	}
	c.errors++
	if c.errors == 1 {
		c.first = msg
	}
	if c.Fail != nil && c.errors <= 3 {
		c.Fail("tcpcheck: " + msg)
	}
}

// Frame parses an Ethernet frame (checksums verified); frames that are
// not TCP are ignored. A frame the stack under test sent (out) is
// checked as Segment checks; one it received is recorded as Peer does.
func (c *Checker) Frame(b []byte, out bool, now int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := &c.frame
	err := wire.ParseFrame(b, f)
	if err != nil {
		if out && c.checks()&CheckFrame != 0 && wire.Reason(err) != wire.DropNotIP && wire.Reason(err) != wire.DropNotTCP {
			c.fail(nil, fmt.Sprintf("sent frame does not parse: %v", err))
		}
		return
	}
	ipHdr := f.L4Off - f.L3Off
	maxSeg := 0
	if c.MTU > 0 {
		maxSeg = c.MTU - ipHdr - wire.TCPMinHeaderLen
		if l := ipHdr + f.L4Len; out && l > c.MTU && c.checks()&CheckSize != 0 {
			c.fail(nil, fmt.Sprintf("sent IP datagram of %d octets over the MTU %d", l, c.MTU))
		}
	}
	s := Seg{Seq: f.Seq, Ack: f.Ack, Flags: f.Flags, Window: f.Window, Options: f.Options, Len: len(f.Payload)}
	src := netip.AddrPortFrom(f.Src, f.SrcPort)
	dst := netip.AddrPortFrom(f.Dst, f.DstPort)
	c.segment(src, dst, &s, now, maxSeg, out)
}

func describe(s *Seg) string {
	var fl []string
	for i, n := range [...]string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"} {
		if s.Flags&(1<<i) != 0 {
			fl = append(fl, n)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "<SEQ=%d><ACK=%d><CTL=%s><WND=%d><LEN=%d>", s.Seq, s.Ack, strings.Join(fl, "|"), s.Window, s.Len)
	o := &s.Options
	if o.MSS != 0 {
		fmt.Fprintf(&b, " mss %d", o.MSS)
	}
	if o.HasWScale {
		fmt.Fprintf(&b, " ws %d", o.WScale)
	}
	if o.SACKPermitted {
		b.WriteString(" sackOK")
	}
	if o.HasTS {
		fmt.Fprintf(&b, " ts %d/%d", o.TSVal, o.TSEcr)
	}
	for i := range int(min(o.NumSACK, wire.MaxSACKBlocks)) {
		fmt.Fprintf(&b, " sack %d-%d", o.SACK[i].Left, o.SACK[i].Right)
	}
	return b.String()
}

func seqLT(a, b uint32) bool { return int32(a-b) < 0 }
func seqGT(a, b uint32) bool { return int32(a-b) > 0 }

func cmpEndpoint(a, b Endpoint) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return int(a.Port()) - int(b.Port())
}

// WallTap adapts a Checker to a loop's frame tap (sched.Tap) on the wall
// clock: frames out are checked, frames in recorded. Give the Checker a
// Slack for the lateness of the loop's timers.
type WallTap struct{ C *Checker }

// Frame implements sched.Tap.
func (w WallTap) Frame(_ int, out bool, frame []byte) { w.C.Frame(frame, out, time.Now().UnixNano()) }
