package tcp

import "strings"

// Flags are the TCP control bits (RFC 9293 §3.1, RFC 3168 for ECE/CWR).
type Flags uint8

const (
	FlagFIN Flags = 1 << iota
	FlagSYN
	FlagRST
	FlagPSH
	FlagACK
	FlagURG
	FlagECE
	FlagCWR
)

// Has reports whether all bits of m are set.
func (f Flags) Has(m Flags) bool { return f&m == m }

func (f Flags) String() string {
	names := [...]string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"}
	var b strings.Builder
	for i, n := range names {
		if f&(1<<i) != 0 {
			if b.Len() > 0 {
				b.WriteByte('|')
			}
			b.WriteString(n)
		}
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}

// SACKBlock is one block of a SACK option (RFC 2018 §3): octets
// [Left, Right) have been received.
type SACKBlock struct{ Left, Right Seq }

// MaxSACKBlocks is the most blocks one option can carry (4 without
// timestamps, 3 with them; RFC 2018 §3).
const MaxSACKBlocks = 4

// Options are the TCP options sluice understands, already parsed.
// Absent options have their Has* flag false (MSS 0 means absent).
type Options struct {
	MSS           uint16 // RFC 9293 §3.7.1; 0 = absent
	HasWScale     bool   // RFC 7323 §2
	WScale        uint8  // shift count, at most 14
	SACKPermitted bool   // RFC 2018 §2
	HasTS         bool   // RFC 7323 §3
	TSVal, TSEcr  uint32
	NumSACK       uint8 // number of valid entries in SACK
	SACK          [MaxSACKBlocks]SACKBlock
}

// Segment is a TCP segment as the engine sees it: header fields in host
// order, options parsed, payload in place. Addresses and ports live in the
// ID of the flow the segment belongs to.
type Segment struct {
	Seq     Seq
	Ack     Seq
	Flags   Flags
	Window  uint16 // as on the wire, not yet scaled
	Urgent  uint16
	Options Options
	// Payload is the segment text. On input it aliases the received frame
	// and is valid only during the call; on output it is valid only
	// during Sink.Emit.
	Payload []byte
}

// Len is SEG.LEN: payload octets plus one for SYN and one for FIN
// (RFC 9293 §3.3.1).
func (s *Segment) Len() uint32 {
	n := uint32(len(s.Payload))
	if s.Flags&FlagSYN != 0 {
		n++
	}
	if s.Flags&FlagFIN != 0 {
		n++
	}
	return n
}
