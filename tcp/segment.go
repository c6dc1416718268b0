package tcp

import (
	"strings"

	"github.com/sluicenet/sluice/wire"
)

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

// Options are the parsed TCP options (wire.TCPOptions): one struct from the
// parser to the engine and back to the encoder, no copy in between.
type Options = wire.TCPOptions

// SACKBlock is one SACK block; its edges are sequence numbers (use Seq(b.Left)).
type SACKBlock = wire.SACKBlock

// MaxSACKBlocks is the most blocks one SACK option can carry.
const MaxSACKBlocks = wire.MaxSACKBlocks

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
	// Hold, on input, lets the TCB keep in-order text in Payload's memory
	// instead of copying it into the receive buffer, until the caller's
	// TCB.Unalias (direct.go). Only a caller that calls Unalias before it
	// reuses that memory may set it.
	Hold bool
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
