// Package wire holds pure codecs over []byte: Ethernet, ARP, IPv4, IPv6,
// ICMP, TCP header and options, and Internet checksums. No allocation, no I/O.
package wire

// SACKBlock is one block of a SACK option (RFC 2018 §3): octets
// [Left, Right) have been received. Edges are sequence numbers.
type SACKBlock struct{ Left, Right uint32 }

// MaxSACKBlocks is the most blocks one option can carry (4 without
// timestamps, 3 with them; RFC 2018 §3).
const MaxSACKBlocks = 4

// TCPOptions are the TCP options sluice understands, parsed. Absent options
// have their Has* flag false (MSS 0 means absent). Unknown options are
// skipped by length when parsing and never emitted.
type TCPOptions struct {
	MSS           uint16 // RFC 9293 §3.7.1; 0 = absent
	HasWScale     bool   // RFC 7323 §2
	WScale        uint8  // shift count; values above 14 are treated as 14
	SACKPermitted bool   // RFC 2018 §2
	HasTS         bool   // RFC 7323 §3
	TSVal, TSEcr  uint32
	NumSACK       uint8 // number of valid entries in SACK
	SACK          [MaxSACKBlocks]SACKBlock
}
