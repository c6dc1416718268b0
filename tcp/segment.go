package tcp

import (
	"strings"

	"github.com/sluicenet/sluice/tcp/chunk"
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
	Seq   Seq
	Ack   Seq
	Flags Flags
	// Hold, on input, lets the TCB keep in-order text in Payload's memory
	// instead of copying it into the receive buffer, until the caller's
	// TCB.Unalias (direct.go). Only a caller that calls Unalias before it
	// reuses that memory may set it.
	Hold bool
	// More, on input, says the caller holds further text of this flow
	// received together with this segment (one receive batch), as
	// Linux's GRO merges such a run into one segment: the ACK owed every
	// second full segment waits for the run's last one (at most
	// maxStretch octets unacknowledged), so a run is ACKed once.
	More    bool
	tailLen uint16
	Window  uint16 // as on the wire, not yet scaled
	Urgent  uint16
	Options Options
	// Payload is the segment text (its first run, see Tail). On input it
	// aliases the received frame and is valid only during the call; on
	// output it is valid only during Sink.Emit.
	Payload []byte
	tail    *chunk.Chunk // Tail's chunk; a pointer and tailLen, not a slice, keep TCB.out small
}

// Len is SEG.LEN: text octets plus one for SYN and one for FIN
// (RFC 9293 §3.3.1).
func (s *Segment) Len() uint32 {
	n := uint32(s.TextLen())
	if s.Flags&FlagSYN != 0 {
		n++
	}
	if s.Flags&FlagFIN != 0 {
		n++
	}
	return n
}

// Tail is the rest of the text after Payload, on output to a TailSink
// when the text crosses a send-buffer chunk (Payload then ends that
// chunk and Tail begins the next): the Sink copies both runs, so such
// text is copied once, into its frame. Empty on input and for any other
// Sink; valid only during Sink.Emit.
func (s *Segment) Tail() []byte {
	if s.tail == nil {
		return nil
	}
	return s.tail[:s.tailLen]
}

// setText sets the text: Payload a, then the first n octets of chunk c.
func (s *Segment) setText(a []byte, c *chunk.Chunk, n int) {
	s.Payload, s.tail, s.tailLen = a, c, uint16(n)
}

// SetPayload makes p the whole text (no Tail).
func (s *Segment) SetPayload(p []byte) { s.setText(p, nil, 0) }

// TextLen is the octets of text: Payload and Tail.
func (s *Segment) TextLen() int { return len(s.Payload) + int(s.tailLen) }

// AppendText appends the text (Payload, then Tail) to dst: a copy in one
// slice for a Sink that keeps or inspects the text whole.
func (s *Segment) AppendText(dst []byte) []byte {
	return append(append(dst, s.Payload...), s.Tail()...)
}

// A TailSink is a Sink that takes output text as two runs (Payload, then
// Tail). The TCB gives other Sinks the text of a segment that crosses a
// send-buffer chunk in Payload alone, gathered into one slice (a copy);
// a Sink that copies the text anyway (into a frame) avoids that copy by
// taking the Tail.
type TailSink interface {
	Sink
	// TakesTail marks the Sink; it is never called.
	TakesTail()
}
