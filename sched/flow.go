package sched

import "github.com/sluicenet/sluice/tcp"

// The loop is its TCBs' tcp.FlowSink: a connection's 4-tuple is its key
// (Conn.key, what the connection table demultiplexes by), so the TCB
// keeps no copy of it. A TCB emits only while the loop drives it, which
// is also how Emit picks the Ethernet addresses: the connection entered
// (Loop.enter) — the TCB itself, or a dialed connection whose TCB is
// being opened — or, in a listener's Input, the frame being answered,
// whose 4-tuple reversed is the new child's.

var _ tcp.FlowSink = (*Loop)(nil)

// EmitFlow is Emit for t's 4-tuple.
func (l *Loop) EmitFlow(t *tcp.TCB, seg *tcp.Segment) {
	id, ok := l.flowOf(t)
	if !ok {
		l.st.TxNoRoute++
		return
	}
	l.Emit(&id, seg)
}

// FlowID is t's 4-tuple (the zero ID when the loop is not driving t).
func (l *Loop) FlowID(t *tcp.TCB) tcp.ID {
	id, _ := l.flowOf(t)
	return id
}

func (l *Loop) flowOf(t *tcp.TCB) (tcp.ID, bool) {
	if c := l.cur; c != nil && (c.tcb == t || c.tcb == nil) {
		return c.key.ID(), true
	}
	if f := l.rx; f != nil {
		return tcp.ID{LocalAddr: f.Dst, RemoteAddr: f.Src, LocalPort: f.DstPort, RemotePort: f.SrcPort}, true
	}
	return tcp.ID{}, false
}
