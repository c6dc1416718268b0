package wire

import (
	"encoding/binary"
	"net/netip"
)

// ICMP types and codes sluice acts on (RFC 792, RFC 1191, RFC 4443).
const (
	ICMPv4EchoReply      = 0
	ICMPv4DestUnreach    = 3
	ICMPv4SourceQuench   = 4
	ICMPv4Redirect       = 5
	ICMPv4Echo           = 8
	ICMPv4TimeExceeded   = 11
	ICMPv4ParamProblem   = 12
	ICMPv4CodeFragNeeded = 4 // of DestUnreach: "fragmentation needed and DF set" (RFC 1191 §4)

	ICMPv6DestUnreach  = 1
	ICMPv6PacketTooBig = 2
	ICMPv6TimeExceeded = 3
	ICMPv6ParamProblem = 4
	ICMPv6EchoRequest  = 128
	ICMPv6EchoReply    = 129

	ICMPHeaderLen = 8 // type, code, checksum, 4 octets of rest-of-header
)

// ICMPv4 is an ICMPv4 message viewed in place; accessors assume at least
// ICMPHeaderLen octets (ParseICMP).
type ICMPv4 []byte

func (m ICMPv4) Type() uint8      { return m[0] }
func (m ICMPv4) Code() uint8      { return m[1] }
func (m ICMPv4) Checksum() uint16 { return binary.BigEndian.Uint16(m[2:]) }

// Rest is the 4-octet rest-of-header (echo id/seq, unused, next-hop MTU).
func (m ICMPv4) Rest() uint32 { return binary.BigEndian.Uint32(m[4:]) }

// NextHopMTU is the MTU of a "fragmentation needed" message (RFC 1191 §4),
// 0 from pre-RFC 1191 routers.
func (m ICMPv4) NextHopMTU() uint16 { return binary.BigEndian.Uint16(m[6:]) }

// IsError reports an error message that quotes the offending datagram.
func (m ICMPv4) IsError() bool {
	switch m.Type() {
	case ICMPv4DestUnreach, ICMPv4SourceQuench, ICMPv4Redirect, ICMPv4TimeExceeded, ICMPv4ParamProblem:
		return true
	}
	return false
}

// Quoted is the original datagram's IP header and at least 8 octets of its
// payload carried by an error message (RFC 792; RFC 1812 §4.3.2.3 allows
// more), possibly truncated.
func (m ICMPv4) Quoted() []byte { return m[ICMPHeaderLen:] }

// ChecksumValid checks the checksum over the whole message (RFC 792: no
// pseudo-header for ICMPv4).
func (m ICMPv4) ChecksumValid() bool { return Checksum(m, 0) == 0xffff }

// UpdateChecksum recomputes the checksum.
func (m ICMPv4) UpdateChecksum() {
	binary.BigEndian.PutUint16(m[2:], 0)
	binary.BigEndian.PutUint16(m[2:], ^Checksum(m, 0))
}

// ICMPv6 is an ICMPv6 message viewed in place (RFC 4443 §2.1).
type ICMPv6 []byte

func (m ICMPv6) Type() uint8      { return m[0] }
func (m ICMPv6) Code() uint8      { return m[1] }
func (m ICMPv6) Checksum() uint16 { return binary.BigEndian.Uint16(m[2:]) }
func (m ICMPv6) Rest() uint32     { return binary.BigEndian.Uint32(m[4:]) }

// MTU is the MTU of a Packet Too Big message (RFC 4443 §3.2).
func (m ICMPv6) MTU() uint32 { return m.Rest() }

// IsError reports an error message (types 0-127, RFC 4443 §2.1).
func (m ICMPv6) IsError() bool { return m.Type() < 128 }

// Quoted is "as much of the invoking packet as possible" (RFC 4443 §3).
func (m ICMPv6) Quoted() []byte { return m[ICMPHeaderLen:] }

// ChecksumValid checks the checksum including the IPv6 pseudo-header
// (RFC 4443 §2.3), src and dst being the addresses of the carrying packet.
func (m ICMPv6) ChecksumValid(src, dst netip.Addr) bool {
	return Checksum(m, PseudoHeaderSumAddr(ProtoICMPv6, src, dst, uint32(len(m)))) == 0xffff
}

// UpdateChecksum recomputes the checksum with the pseudo-header.
func (m ICMPv6) UpdateChecksum(src, dst netip.Addr) {
	binary.BigEndian.PutUint16(m[2:], 0)
	binary.BigEndian.PutUint16(m[2:], ^Checksum(m, PseudoHeaderSumAddr(ProtoICMPv6, src, dst, uint32(len(m)))))
}

// ParseICMP checks that b holds at least an ICMP header; it serves both
// versions (convert the result: ICMPv4(b) or ICMPv6(b)).
func ParseICMP(b []byte) ([]byte, error) {
	if len(b) < ICMPHeaderLen {
		return nil, DropTruncated
	}
	return b, nil
}

// QuotedTCP is what an ICMP error tells about the TCP segment that caused
// it: the flow (as sent by us: Src is our address) and the sequence
// number, to check against SND.UNA..SND.NXT before acting (RFC 5927 §4.1).
type QuotedTCP struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Seq              uint32
}

// ParseQuotedTCP decodes the datagram quoted in an ICMP error (the output
// of ICMPv4.Quoted or ICMPv6.Quoted; v6 selects the version). It needs the
// IP header (with IPv6 extension headers walked) and the first 8 octets of
// TCP; Total/Payload Length may exceed what was quoted. DropNotTCP if the
// quoted packet is not TCP.
func ParseQuotedTCP(q []byte, v6 bool, out *QuotedTCP) error {
	var l4 []byte
	if !v6 {
		if len(q) < IPv4MinHeaderLen {
			return DropTruncated
		}
		if q[0]>>4 != 4 {
			return DropBadIPVersion
		}
		hl := int(q[0]&0xf) * 4
		if hl < IPv4MinHeaderLen {
			return DropBadIPHeader
		}
		if len(q) < hl {
			return DropTruncated
		}
		p := IPv4(q)
		if p.Protocol() != ProtoTCP {
			return DropNotTCP
		}
		out.Src, out.Dst = p.Src(), p.Dst()
		l4 = q[hl:]
	} else {
		if len(q) < IPv6HeaderLen {
			return DropTruncated
		}
		if q[0]>>4 != 6 {
			return DropBadIPVersion
		}
		p := IPv6(q)
		var x IPv6Ext
		if err := WalkIPv6Ext(p, &x); err != nil {
			return err
		}
		if x.Proto != ProtoTCP || x.Fragmented() {
			return DropNotTCP
		}
		out.Src, out.Dst = p.Src(), p.Dst()
		l4 = q[x.Offset:]
	}
	if len(l4) < 8 {
		return DropTruncated
	}
	t := TCP(l4)
	out.SrcPort, out.DstPort, out.Seq = t.SrcPort(), t.DstPort(), t.Seq()
	return nil
}

// PutICMPv4 writes an ICMPv4 message (type, code, the 4-octet
// rest-of-header and body, e.g. a quoted datagram or echo data) with its
// checksum and returns its length, or 0 if b is too short.
func PutICMPv4(b []byte, typ, code uint8, rest uint32, body []byte) int {
	n := ICMPHeaderLen + len(body)
	if len(b) < n {
		return 0
	}
	b[0], b[1] = typ, code
	binary.BigEndian.PutUint32(b[4:], rest)
	copy(b[ICMPHeaderLen:n], body)
	ICMPv4(b[:n]).UpdateChecksum()
	return n
}

// PutICMPv6 is PutICMPv4 for ICMPv6; src and dst are the addresses of the
// carrying IPv6 packet, covered by the checksum (RFC 4443 §2.3).
func PutICMPv6(b []byte, typ, code uint8, rest uint32, body []byte, src, dst netip.Addr) int {
	n := ICMPHeaderLen + len(body)
	if len(b) < n {
		return 0
	}
	b[0], b[1] = typ, code
	binary.BigEndian.PutUint32(b[4:], rest)
	copy(b[ICMPHeaderLen:n], body)
	ICMPv6(b[:n]).UpdateChecksum(src, dst)
	return n
}
