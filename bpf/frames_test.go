//go:build linux

package bpf

import (
	"encoding/binary"
	"net/netip"
)

// Hand-built frames for BPF_PROG_TEST_RUN. Built here rather than with
// wire/ so that malformed variants (bogus lengths, odd extension chains) are
// byte-exact and independent of the parser under comparison.

const (
	etherIPv4   = 0x0800
	etherIPv6   = 0x86dd
	etherARP    = 0x0806
	ether8021Q  = 0x8100
	ether8021AD = 0x88a8

	protoTCP    = 6
	protoUDP    = 17
	protoICMP   = 1
	protoICMPv6 = 58
)

var (
	macA = []byte{0x02, 0, 0, 0, 0, 1}
	macB = []byte{0x02, 0, 0, 0, 0, 2}
)

// eth returns an Ethernet header with the given tags (TPIDs, each followed
// by TCI 5) and final EtherType.
func eth(etherType uint16, tags ...uint16) []byte {
	b := append(append([]byte{}, macA...), macB...)
	for _, tpid := range tags {
		b = binary.BigEndian.AppendUint16(b, tpid)
		b = binary.BigEndian.AppendUint16(b, 5)
	}
	return binary.BigEndian.AppendUint16(b, etherType)
}

// tcpHdr is a TCP header (RFC 9293 §3.1) with optLen octets of NOP options
// and SYN set; the checksum is left zero (the program never checks it).
func tcpHdr(sport, dport uint16, optLen int) []byte {
	b := make([]byte, 20+optLen)
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint32(b[4:], 1000)
	b[12] = byte((20+optLen)/4) << 4
	b[13] = 0x02 // SYN
	binary.BigEndian.PutUint16(b[14:], 65535)
	for i := 20; i < len(b); i++ {
		b[i] = 1 // NOP
	}
	return b
}

// ipv4Hdr is an IPv4 header (RFC 791) with optLen octets of options
// (NOP, a multiple of 4) for a payload of payloadLen octets.
func ipv4Hdr(src, dst netip.Addr, proto uint8, optLen, payloadLen int) []byte {
	hl := 20 + optLen
	b := make([]byte, hl)
	b[0] = 0x40 | byte(hl/4)
	binary.BigEndian.PutUint16(b[2:], uint16(hl+payloadLen))
	binary.BigEndian.PutUint16(b[6:], 0x4000) // DF
	b[8] = 64
	b[9] = proto
	s, d := src.As4(), dst.As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	for i := 20; i < hl; i++ {
		b[i] = 1
	}
	return b
}

// ipv6Hdr is an IPv6 fixed header (RFC 8200 §3).
func ipv6Hdr(src, dst netip.Addr, nextHeader uint8, payloadLen int) []byte {
	b := make([]byte, 40)
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:], uint16(payloadLen))
	b[6] = nextHeader
	b[7] = 64
	s, d := src.As16(), dst.As16()
	copy(b[8:], s[:])
	copy(b[24:], d[:])
	return b
}

// ext is an IPv6 extension header of 8*(1+hdrExtLen) octets; for routing
// headers octet 3 is Segments Left.
func ext(nextHeader uint8, hdrExtLen uint8, segLeft uint8) []byte {
	b := make([]byte, 8*(1+int(hdrExtLen)))
	b[0] = nextHeader
	b[1] = hdrExtLen
	b[3] = segLeft
	if len(b) > 2 {
		b[2] = 1 // PadN-ish filler; contents are not interpreted
	}
	return b
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// tcp4 builds Ethernet/[tags]/IPv4/TCP from src to dst.
func tcp4(src, dst netip.AddrPort, tags ...uint16) []byte {
	t := tcpHdr(src.Port(), dst.Port(), 0)
	return cat(eth(etherIPv4, tags...), ipv4Hdr(src.Addr(), dst.Addr(), protoTCP, 0, len(t)), t)
}

// tcp6 builds Ethernet/[tags]/IPv6/exts.../TCP; exts are chained in order,
// the caller sets their next-header fields.
func tcp6(src, dst netip.AddrPort, firstNH uint8, exts [][]byte, tags ...uint16) []byte {
	t := tcpHdr(src.Port(), dst.Port(), 0)
	e := cat(exts...)
	return cat(eth(etherIPv6, tags...), ipv6Hdr(src.Addr(), dst.Addr(), firstNH, len(e)+len(t)), e, t)
}

// rich4 is the longest IPv4 frame shape: 802.1Q tag, 8 octets of IP
// options, 12 octets of TCP options. Truncation tests cut it everywhere.
func rich4(src, dst netip.AddrPort) []byte {
	t := tcpHdr(src.Port(), dst.Port(), 12)
	return cat(eth(etherIPv4, ether8021Q), ipv4Hdr(src.Addr(), dst.Addr(), protoTCP, 8, len(t)), t)
}

// rich6 is 802.1ad tag, hop-by-hop + destination options, TCP options.
func rich6(src, dst netip.AddrPort) []byte {
	t := tcpHdr(src.Port(), dst.Port(), 12)
	e := cat(ext(60, 0, 0), ext(protoTCP, 1, 0))
	return cat(eth(etherIPv6, ether8021AD), ipv6Hdr(src.Addr(), dst.Addr(), 0, len(e)+len(t)), e, t)
}
