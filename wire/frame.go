package wire

import (
	"encoding/binary"
	"net/netip"
)

// Frame is one received Ethernet/IP/TCP frame, decoded by ParseFrame. It is
// meant to live in the RX loop and be reused: ParseFrame overwrites every
// field it sets and nothing in it is allocated. Payload aliases the frame.
type Frame struct {
	Eth EthernetHeader

	// IP
	IPVersion    uint8 // 4 or 6
	Src, Dst     netip.Addr
	TTL          uint8  // IPv4 TTL or IPv6 Hop Limit
	TOS          uint8  // IPv4 TOS or IPv6 Traffic Class (ECN in the low 2 bits)
	FlowLabel    uint32 // IPv6
	IPID         uint16 // IPv4
	DontFragment bool   // IPv4 DF
	L3Off        int    // offset of the IP header in the frame
	L4Off        int    // offset of the TCP header in the frame
	L4Len        int    // TCP header + payload octets (the pseudo-header length)
	// Proto is the upper-layer protocol. With DropNotTCP (and
	// DropFragment, DropBadAddress), b[L4Off:L4Off+L4Len] is still that
	// protocol's message, e.g. an ICMP error to inspect.
	Proto uint8

	// TCP (RFC 9293 §3.1), host order.
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	Flags            uint8 // TCPFlag*; equals tcp.Flags
	Window           uint16
	Urgent           uint16
	HeaderLen        int // TCP data offset in octets
	Options          TCPOptions
	Payload          []byte
	// PartialChecksum: the TCP checksum field held the pseudo-header sum
	// only and AcceptPartialChecksum let the segment in (see there).
	PartialChecksum bool
}

// ParseFlags modify ParseFrameFlags.
type ParseFlags uint8

const (
	// SkipL4Checksum trusts the TCP checksum (the device verified it).
	SkipL4Checksum ParseFlags = 1 << iota
	// LenientTCPOptions accepts a segment whose option list is malformed,
	// keeping the options before the bad one, as Linux's
	// tcp_parse_options does (it stops at a "silly" or partial option).
	// Without it such a segment is DropBadOptions.
	LenientTCPOptions
	// AcceptPartialChecksum accepts a TCP segment whose checksum field
	// holds exactly the pseudo-header sum (RFC 9293 §3.1's pseudo-header,
	// folded, not complemented) and sets Frame.PartialChecksum. That is
	// what a Linux sender writes when it leaves the checksum to the
	// device (CHECKSUM_PARTIAL: tcp_v4_send_check, tcp_v6_send_check), and
	// a veth hands such a frame over as it is: the kernel itself trusts
	// it from a local sender without verifying. Set it only for such a
	// device. Every other checksum is verified as without the flag; a
	// random corruption lands on this one value with the same 2^-16
	// chance as on a valid checksum. Without the flag the segment is
	// DropPartialChecksum, not DropBadTCPChecksum.
	AcceptPartialChecksum
)

// ParseFrame decodes an Ethernet II (optionally 802.1Q-tagged) frame
// carrying IPv4 or IPv6 and TCP, verifying the IPv4 header checksum and the
// TCP checksum over the pseudo-header. On error, the returned value is a
// DropReason and f holds whatever was decoded before the failure (Eth is
// valid from DropNotIP onwards, so ARP can be told apart from junk).
//
// Drops: DropTruncated, DropNotIP, DropBadIPVersion, DropBadIPHeader,
// DropBadLength, DropBadIPChecksum, DropFragment (sluice does no
// reassembly), DropNotTCP, DropBadAddress (source multicast, broadcast,
// class E, loopback or unspecified; destination multicast/broadcast: TCP
// is unicast, RFC 9293 §3.10.7.2; IPv4-mapped addresses in IPv6 headers,
// which Linux's tcp_v6_conn_request drops too, RFC 4291 §2.5.5.2),
// DropTooManyExtHeaders, DropBadTCPHeader,
// DropBadTCPChecksum, DropPartialChecksum, DropBadOptions.
//
// No length field is trusted: every offset is checked against len(b), and
// Ethernet padding after the IP datagram is excluded from the payload.
func ParseFrame(b []byte, f *Frame) error { return ParseFrameFlags(b, f, 0) }

// ParseFrameFlags is ParseFrame with flags.
func ParseFrameFlags(b []byte, f *Frame, fl ParseFlags) error {
	l3, err := ParseEthernet(b, &f.Eth)
	if err != nil {
		return err
	}
	f.L3Off = l3
	var seg []byte    // TCP header + payload
	var pseudo uint64 // pseudo-header sum, unfolded
	switch f.Eth.EtherType {
	case EtherTypeIPv4:
		p, err := ParseIPv4(b[l3:])
		if err != nil {
			return err
		}
		if !p.ChecksumValid() {
			return DropBadIPChecksum
		}
		f.IPVersion = 4
		f.TOS, f.TTL, f.IPID, f.DontFragment, f.FlowLabel = p.TOS(), p.TTL(), p.ID(), p.DontFragment(), 0
		f.Src, f.Dst = p.Src(), p.Dst()
		hl := p.HeaderLen()
		f.Proto, f.L4Off, f.L4Len = p.Protocol(), l3+hl, len(p)-hl
		if p.IsFragment() {
			return DropFragment
		}
		if p.Protocol() != ProtoTCP {
			return DropNotTCP
		}
		if s, d := p[12], p[16]; s >= 224 || d >= 224 || s == 0 || s == 127 {
			return DropBadAddress
		}
		seg = p[hl:]
		pseudo = uint64(binary.BigEndian.Uint32(p[12:])) + uint64(binary.BigEndian.Uint32(p[16:])) +
			ProtoTCP + uint64(len(seg))
	case EtherTypeIPv6:
		p, err := ParseIPv6(b[l3:])
		if err != nil {
			return err
		}
		f.IPVersion = 6
		f.TOS, f.TTL, f.FlowLabel, f.IPID, f.DontFragment = p.TrafficClass(), p.HopLimit(), p.FlowLabel(), 0, false
		f.Src, f.Dst = p.Src(), p.Dst()
		off := IPv6HeaderLen
		nh := p.NextHeader()
		if nh != ProtoTCP { // the common case skips the walk
			var x IPv6Ext
			if err := WalkIPv6Ext(p, &x); err != nil {
				return err
			}
			if x.Fragmented() {
				return DropFragment
			}
			nh, off = x.Proto, x.Offset
		}
		f.Proto, f.L4Off, f.L4Len = nh, l3+off, len(p)-off
		if nh != ProtoTCP {
			return DropNotTCP
		}
		if p[8] == 0xff || p[24] == 0xff || f.Src.IsUnspecified() || f.Src.IsLoopback() ||
			f.Src.Is4In6() || f.Dst.Is4In6() {
			return DropBadAddress
		}
		seg = p[off:]
		pseudo = sumWords32(p[8:40]) + ProtoTCP + uint64(len(seg))
	default:
		return DropNotIP
	}
	if len(seg) < TCPMinHeaderLen {
		return DropTruncated
	}
	hl := int(seg[12]>>4) * 4
	if hl < TCPMinHeaderLen || hl > len(seg) {
		return DropBadTCPHeader
	}
	f.PartialChecksum = false
	switch {
	case fl&SkipL4Checksum != 0:
	case fl&AcceptPartialChecksum != 0 && binary.BigEndian.Uint16(seg[16:]) == fold64(pseudo):
		// The partial form is accepted without summing the segment:
		// on a veth nearly every segment from a Linux peer has it, and
		// the sum, which could only fail, was the cost of its text. A
		// segment whose full checksum happens to equal the
		// pseudo-header sum too (one in 2^16) is marked partial; it was
		// accepted either way.
		f.PartialChecksum = true
	case checksumAcc(seg, pseudo) != 0xffff:
		// Only a failed check looks at the partial form: a verified
		// segment costs nothing more.
		if binary.BigEndian.Uint16(seg[16:]) != fold64(pseudo) {
			return DropBadTCPChecksum
		}
		return DropPartialChecksum // AcceptPartialChecksum took it above
	}
	f.SrcPort = binary.BigEndian.Uint16(seg[0:])
	f.DstPort = binary.BigEndian.Uint16(seg[2:])
	f.Seq = binary.BigEndian.Uint32(seg[4:])
	f.Ack = binary.BigEndian.Uint32(seg[8:])
	f.Flags = seg[13]
	f.Window = binary.BigEndian.Uint16(seg[14:])
	f.Urgent = binary.BigEndian.Uint16(seg[18:])
	f.HeaderLen = hl
	f.Payload = seg[hl:]
	if hl == TCPMinHeaderLen {
		f.Options = TCPOptions{}
		return nil
	}
	err = ParseTCPOptions(seg[TCPMinHeaderLen:hl], &f.Options)
	if err != nil && fl&LenientTCPOptions != 0 {
		return nil
	}
	return err
}
