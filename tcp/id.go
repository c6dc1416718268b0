package tcp

import (
	"fmt"
	"net/netip"
	"time"
)

// ID names a connection by its 4-tuple, seen from this end.
type ID struct {
	LocalAddr  netip.Addr
	RemoteAddr netip.Addr
	LocalPort  uint16
	RemotePort uint16
}

func (id ID) String() string {
	return fmt.Sprintf("%s<->%s",
		netip.AddrPortFrom(id.LocalAddr, id.LocalPort),
		netip.AddrPortFrom(id.RemoteAddr, id.RemotePort))
}

// Instant is a point on the caller's monotonic clock, in nanoseconds from an
// arbitrary origin. The engine never reads a clock: every call that can
// depend on time takes the current Instant (DESIGN: time is an input).
type Instant int64

// Add returns the instant d after t.
func (t Instant) Add(d time.Duration) Instant { return t + Instant(d) }

// Sub returns the duration t - u.
func (t Instant) Sub(u Instant) time.Duration { return time.Duration(t - u) }

// Before reports t < u.
func (t Instant) Before(u Instant) bool { return t < u }

// Never is the deadline of an engine with no timer armed.
const Never Instant = 1<<63 - 1

// Sink receives the segments the engine emits. The caller serializes them
// (wire/) into a frame for the flow id; seg and its payload are valid only
// for the duration of the call.
type Sink interface {
	Emit(id *ID, seg *Segment)
}
