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

// A FlowSink is a Sink that names each of its TCBs' 4-tuple itself: the
// owner demultiplexed their segments by it and keeps it (sched's
// connection table), so the TCB keeps no copy, 56 octets of every idle
// connection. A TCB given a plain Sink keeps its ID beside it (idSink).
//
// The TCB calls both methods only while its owner drives it (a call on
// it, Listener.Input for the child it makes, Open), never of itself.
type FlowSink interface {
	Sink
	// EmitFlow is Emit for t's 4-tuple.
	EmitFlow(t *TCB, seg *Segment)
	// FlowID returns t's 4-tuple (cold: the ISN, the timestamp offset).
	FlowID(t *TCB) ID
}

// idSink makes a plain Sink a FlowSink for one TCB, keeping its ID. The
// marker interfaces the TCB looks for (TailSink, PushSink) are asked of
// the Sink it wraps (TCB.marks).
type idSink struct {
	Sink
	id ID
}

func (s *idSink) EmitFlow(_ *TCB, seg *Segment) { s.Sink.Emit(&s.id, seg) }
func (s *idSink) FlowID(*TCB) ID                { return s.id }
func (s *idSink) keep(id ID)                    { s.id = id }

// flowSink returns what a TCB with 4-tuple id emits through: sink itself
// when it is a FlowSink, else an idSink for it, old's when old is one (a
// recycled TCB allocates nothing).
func flowSink(sink Sink, id *ID, old FlowSink) FlowSink {
	if fs, ok := sink.(FlowSink); ok {
		return fs
	}
	w, ok := old.(*idSink)
	if !ok {
		w = &idSink{}
	}
	w.Sink, w.id = sink, *id
	return w
}

// marks is the Sink the TCB asks for marker interfaces: the one an
// idSink wraps, else its own.
func (t *TCB) marks() Sink {
	if w, ok := t.sink.(*idSink); ok {
		return w.Sink
	}
	return t.sink
}

// ID returns the connection's 4-tuple, as its sink names it (a FlowSink
// while the owner drives the TCB; see FlowSink).
func (t *TCB) ID() ID { return t.sink.FlowID(t) }

// flow is ID in the Config's scratch, for the Config's function hooks
// (ISN, TSOffset), through which an ID on the stack would escape to the
// heap.
func (t *TCB) flow() *ID {
	f := &t.cfg.flow
	*f = t.sink.FlowID(t)
	return f
}

// ports is the local and the remote port in one word (BBR's seed).
func (t *TCB) ports() uint32 {
	id := t.sink.FlowID(t)
	return uint32(id.LocalPort)<<16 | uint32(id.RemotePort)
}

// isV6 reports whether id's peer is IPv6 (not IPv4-mapped).
func (id *ID) isV6() bool { return id.RemoteAddr.Is6() && !id.RemoteAddr.Is4In6() }
