package sched

import (
	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/wire"
)

// inputICMP hands an ICMP error that quotes one of this loop's
// connections to its TCB (tcp.TCB.ICMP): "fragmentation needed" (RFC
// 1191) and "packet too big" (RFC 8201) lower the connection's send MSS,
// other destination unreachables are kept as soft errors (RFC 1122
// §4.2.3.9). The TCB checks the quoted sequence number against
// SND.UNA..SND.NXT (RFC 5927 §4.1) and counts what it ignores in its
// Stats. The XDP program redirects only ICMP errors quoting a listened or
// dialed flow; everything else ICMP stays with the kernel. f is the frame
// as ParseFrame left it after DropNotTCP (addresses and L4 bounds set).
// The frame stays counted under its drop reason: ICMP is not a segment.
func (l *Loop) inputICMP(b []byte, f *wire.Frame) {
	v6 := f.IPVersion == 6
	if v6 && f.Proto != wire.ProtoICMPv6 || !v6 && f.Proto != wire.ProtoICMP ||
		f.L4Off < 0 || f.L4Len < 0 || f.L4Off+f.L4Len > len(b) {
		return
	}
	m, err := wire.ParseICMP(b[f.L4Off : f.L4Off+f.L4Len])
	if err != nil {
		return
	}
	var e tcp.ICMPError
	var quoted []byte
	if v6 {
		p := wire.ICMPv6(m)
		if !p.ChecksumValid(f.Src, f.Dst) {
			return
		}
		switch p.Type() {
		case wire.ICMPv6PacketTooBig:
			e.Kind, e.MTU = tcp.ICMPPacketTooBig, p.MTU()
		case wire.ICMPv6DestUnreach:
			e.Kind = tcp.ICMPUnreachable
		default:
			return
		}
		quoted, e.V6 = p.Quoted(), true
	} else {
		p := wire.ICMPv4(m)
		if !p.ChecksumValid() || p.Type() != wire.ICMPv4DestUnreach {
			return
		}
		e.Kind = tcp.ICMPUnreachable
		if p.Code() == wire.ICMPv4CodeFragNeeded {
			e.Kind, e.MTU = tcp.ICMPPacketTooBig, uint32(p.NextHopMTU())
		}
		quoted = p.Quoted()
	}
	var q wire.QuotedTCP
	if wire.ParseQuotedTCP(quoted, v6, &q) != nil {
		return
	}
	// The quoted segment is one we sent: its source is our end.
	key := NewConnKey(q.Src.As16(), q.Dst.As16(), q.SrcPort, q.DstPort)
	v, ok := l.conns.Lookup(key)
	if !ok {
		return
	}
	c := l.slab.Get(v)
	if c == nil || c.key != key || c.tcb == nil {
		return
	}
	e.Seq = tcp.Seq(q.Seq)
	prev := l.enter(c)
	c.tcb.ICMP(&e, l.now)
	l.leave(prev)
	l.markDirty(c)
	l.settle()
}
