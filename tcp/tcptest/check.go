package tcptest

import (
	"net/netip"
	"testing"

	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/tcp/tcpcheck"
)

// NewChecker returns an output checker (tcp/tcpcheck) for engines that
// use cfg, failing tb at the first violations and at its end if any.
func NewChecker(tb testing.TB, cfg *tcp.Config) *tcpcheck.Checker {
	c := &tcpcheck.Checker{
		MaxSegment: int(cfg.MSS),
		Fail:       func(msg string) { tb.Error(msg) },
	}
	return c
}

// CheckSeg converts an engine segment for a tcpcheck.Checker.
func CheckSeg(s *tcp.Segment) tcpcheck.Seg {
	return tcpcheck.Seg{Seq: uint32(s.Seq), Ack: uint32(s.Ack), Flags: uint8(s.Flags),
		Window: s.Window, Options: s.Options, Len: s.TextLen()}
}

// Ends returns the endpoints of a 4-tuple: this end, the remote end.
func Ends(id *tcp.ID) (local, remote netip.AddrPort) {
	return netip.AddrPortFrom(id.LocalAddr, id.LocalPort), netip.AddrPortFrom(id.RemoteAddr, id.RemotePort)
}

// checkOut feeds c a segment the engine with 4-tuple id emitted.
func checkOut(c *tcpcheck.Checker, id *tcp.ID, seg *tcp.Segment, now tcp.Instant) {
	l, r := Ends(id)
	s := CheckSeg(seg)
	c.Segment(l, r, &s, int64(now))
}

// checkIn feeds c a segment the engine with 4-tuple id receives.
func checkIn(c *tcpcheck.Checker, id *tcp.ID, seg *tcp.Segment, now tcp.Instant) {
	l, r := Ends(id)
	s := CheckSeg(seg)
	c.Peer(r, l, &s, int64(now))
}

// CheckVars reports (on tb) sequence variables out of order: SND.UNA <=
// SND.NXT <= SND.MAX (RFC 9293 §3.3.1 plus the SND.MAX of tcp.TCB).
func CheckVars(tb testing.TB, t *tcp.TCB) {
	tb.Helper()
	if t == nil {
		return
	}
	v := t.Vars()
	if v.SndNxt.LessThan(v.SndUna) || v.SndMax.LessThan(v.SndNxt) {
		tb.Errorf("tcpcheck: SND.UNA %d SND.NXT %d SND.MAX %d out of order (state %v)", v.SndUna, v.SndNxt, v.SndMax, t.State())
	}
}
