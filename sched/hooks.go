package sched

import (
	"sync/atomic"

	"github.com/sluicenet/sluice/tcp"
)

// Tap sees every frame a loop receives or sends (packet capture, issue 9).
// Frame runs on the loop's thread, so it must be quick and must not call
// back into the loop; frame is valid only during the call (it is a UMEM
// frame): copy what must be kept. out is false for a received frame
// (before it is parsed; frames the test loss hook drops are not seen) and
// true for a sent one (as it goes to the TX ring). A Tap installed on a
// Group is called by all its loops concurrently.
type Tap interface {
	Frame(queue int, out bool, frame []byte)
}

// tapRef boxes a Tap for an atomic.Pointer.
type tapRef struct{ t Tap }

// SetTap installs t on every loop of the group (nil removes it). Each loop
// reads the tap once per RX batch and once per TX flush, so a change takes
// effect within one iteration and the per-frame cost without a tap is a
// nil check. Safe from any goroutine.
func (g *Group) SetTap(t Tap) { storeTap(&g.tap, t) }

// SetTap installs t on this loop alone (a loop outside a Group, or
// tests); see Group.SetTap.
func (l *Loop) SetTap(t Tap) { storeTap(l.tapp, t) }

func storeTap(p *atomic.Pointer[tapRef], t Tap) {
	if t == nil {
		p.Store(nil)
		return
	}
	p.Store(&tapRef{t})
}

// loadTap returns the installed tap or nil.
func (l *Loop) loadTap() Tap {
	if r := l.tapp.Load(); r != nil {
		return r.t
	}
	return nil
}

// atLimit reports whether the loop holds LoopConfig.MaxConns connections.
// A segment that would make a new one at the listener (a SYN, or the ACK
// completing a SYN-cookie handshake) is then dropped and counted
// (Stats.LimitDrops), never answered: see LoopConfig.MaxConns.
func (l *Loop) atLimit() bool {
	m := l.cfg.MaxConns
	return m > 0 && l.conns.Len() >= m
}

// countRetransmit counts segments of c that occupy sequence space below
// the highest sequence number c has sent (retransmissions: RTO go-back-N,
// SYN and SYN-ACK retries, fast retransmit), from the segments the TCB
// emits, so the engine needs no counter of its own. Window probes and
// keepalives occupy no sequence space and are not counted.
func (l *Loop) countRetransmit(c *Conn, seg *tcp.Segment) {
	n := seg.Len()
	if n == 0 {
		return
	}
	end := seg.Seq.Add(n)
	if c.sentAny && seg.Seq.LessThan(c.sndMax) {
		l.st.Retransmits++
		l.st.RetransmitText += uint64(seg.TextLen())
	}
	if !c.sentAny || c.sndMax.LessThan(end) {
		c.sndMax, c.sentAny = end, true
	}
}

// addOpen counts connections whose OnClose has not run, and publishes the
// count for Group.Conns (a plain store: only this thread writes it).
func (l *Loop) addOpen(d int) {
	l.open += d
	l.openPub.Store(int64(l.open))
}
