package tcp

import "errors"

// ICMP errors for a connection: Path MTU discovery (RFC 1191 for IPv4,
// RFC 8201 for IPv6) and unreachables as soft errors (RFC 1122
// §4.2.3.9), both validated against the connection's state first
// (RFC 5927 §4.1: the quoted sequence number must lie in
// SND.UNA..SND.NXT, so a blind attacker must guess it).

// ICMPKind is what an ICMP error means to TCP.
type ICMPKind uint8

const (
	// ICMPPacketTooBig is ICMPv4 "fragmentation needed and DF set"
	// (type 3 code 4) or ICMPv6 "packet too big" (type 2).
	ICMPPacketTooBig ICMPKind = iota + 1
	// ICMPUnreachable is any other destination unreachable (ICMPv4 type 3,
	// ICMPv6 type 1): a soft error (RFC 1122 §4.2.3.9, RFC 5461).
	ICMPUnreachable
)

// ICMPError is an ICMP error whose quoted datagram belongs to this
// connection (the owner matched the quoted 4-tuple).
type ICMPError struct {
	Kind ICMPKind
	// MTU is the next-hop MTU the router reported (0: not given, as from
	// an RFC 1191 §5 pre-RFC-1191 router).
	MTU uint32
	// Seq is the sequence number of the quoted segment.
	Seq Seq
	// V6 tells an IPv6 path (40-octet IP header, 1280 minimum MTU).
	V6 bool
}

// ErrUnreachable is the soft error an unreachable leaves: a connection
// that then times out reports it instead of ErrTimeout (as Linux reports
// EHOSTUNREACH from sk_err_soft).
var ErrUnreachable = errors.New("tcp: destination unreachable")

// Minimum path MTUs accepted from ICMP: IPv6's minimum link MTU (RFC 8200
// §5), and for IPv4 Linux's min_pmtu (552): RFC 1191 §3 allows 68, but a
// forged tiny MTU would make every segment tiny (RFC 5927 §7.2).
const (
	minPMTU4 = 552
	minPMTU6 = 1280
)

// ICMP handles an ICMP error for this connection. A message whose quoted
// sequence number is outside SND.UNA..SND.MAX is ignored and counted
// (Stats.ICMPIgnored): RFC 5927 §4.1.
func (t *TCB) ICMP(e *ICMPError, now Instant) {
	switch t.state {
	case SynSent, SynReceived:
		// Only our SYN (or SYN,ACK) can be quoted: SEQ = ISS.
		if e.Seq != t.iss {
			t.count().ICMPIgnored++
			return
		}
	case Established, CloseWait, FinWait1, Closing, LastAck:
		if e.Seq.LessThan(t.sndUna) || !e.Seq.LessThan(t.sndMax) {
			t.count().ICMPIgnored++
			return
		}
	default:
		t.count().ICMPIgnored++
		return
	}
	switch e.Kind {
	case ICMPPacketTooBig:
		t.pmtuUpdate(e, now)
	case ICMPUnreachable:
		// RFC 1122 §4.2.3.9: "MUST NOT abort" on these soft errors; keep
		// it for the report if the connection later times out.
		t.count().SoftErrors++
		t.flags |= flagSoftErr
	default:
		t.count().ICMPIgnored++
	}
}

// pmtuUpdate lowers the send MSS to what the reported MTU carries
// (RFC 1191 §6.3, RFC 8201 §4) and retransmits at once what was sent too
// big, without a congestion response (the segments were not lost to
// congestion: Linux tcp_simple_retransmit). The MSS never rises here:
// finding a larger PMTU needs probing (RFC 4821), not done.
func (t *TCB) pmtuUpdate(e *ICMPError, now Instant) {
	mtu, hdr, floor := e.MTU, uint32(20), uint32(minPMTU4)
	if e.V6 {
		hdr, floor = 40, minPMTU6
	}
	if mtu == 0 {
		// RFC 1191 §5: a router that reports no MTU; take the next
		// plateau below the datagrams we send (the timestamp option
		// included: issue 14 item 12).
		sent := uint32(t.sndMSS) + hdr + 20
		if t.has(flagTS) {
			sent += 12
		}
		mtu = plateauBelow(sent)
	}
	mtu = max(mtu, floor)
	mss := mtu - hdr - 20
	if t.has(flagTS) {
		mss -= 12
	}
	if mss >= uint32(t.sndMSS) {
		t.count().ICMPIgnored++ // nothing to lower
		return
	}
	t.sndMSS = uint16(mss)
	t.count().PMTUUpdates++
	if t.state == SynSent || t.state == SynReceived || t.sndUna == t.sndMax {
		return
	}
	// The segments in flight from SND.UNA were too big: send again from
	// there in the new size (go-back, the scoreboard skips what the peer
	// SACKed). No cwnd change.
	t.sndNxt = t.sndUna
	t.trySend(now)
	if t.sndNxt == t.sndUna {
		t.retransmitOne(now)
	}
}

// plateauBelow is RFC 1191 §7's plateau table: the largest plateau below
// mtu.
func plateauBelow(mtu uint32) uint32 {
	for _, p := range [...]uint32{32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68} {
		if p < mtu {
			return p
		}
	}
	return 68
}
