package tcp

// Seq is a TCP sequence number. Arithmetic and comparison are modulo 2^32
// (RFC 9293 §3.4): a is "less than" b when the signed distance b-a is
// positive, which is correct as long as the two are within 2^31 of each other.
type Seq uint32

// Add returns s advanced by n octets.
func (s Seq) Add(n uint32) Seq { return s + Seq(n) }

// Sub returns the distance from o to s (s - o), modulo 2^32.
func (s Seq) Sub(o Seq) uint32 { return uint32(s - o) }

// LessThan reports s < o in sequence space.
func (s Seq) LessThan(o Seq) bool { return int32(s-o) < 0 }

// LessEq reports s <= o in sequence space.
func (s Seq) LessEq(o Seq) bool { return int32(s-o) <= 0 }

// GreaterThan reports s > o in sequence space.
func (s Seq) GreaterThan(o Seq) bool { return int32(s-o) > 0 }

// GreaterEq reports s >= o in sequence space.
func (s Seq) GreaterEq(o Seq) bool { return int32(s-o) >= 0 }

// InRange reports lo <= s < hi in sequence space (an empty range when lo == hi).
func (s Seq) InRange(lo, hi Seq) bool { return lo.LessEq(s) && s.LessThan(hi) }

// InWindow reports start <= s < start+size, the acceptability test of
// RFC 9293 §3.10.7.4 for one octet against a window of size octets.
func (s Seq) InWindow(start Seq, size uint32) bool { return s.Sub(start) < size }
