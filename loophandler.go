package sluice

import (
	"time"

	"github.com/sluicenet/sluice/sched"
)

// loopHandler turns the loops' callbacks (sched.Handler) into the public
// ones: it makes the Conn (bound to its loop and 4-tuple), applies
// the connection limit and the Actions callbacks return, and maps close
// errors to the public reasons.
type loopHandler struct{ s *Server }

var (
	_ sched.Handler         = (*loopHandler)(nil)
	_ sched.WritableHandler = (*loopHandler)(nil)
	_ sched.TimeoutHandler  = (*loopHandler)(nil)
	_ sched.TickHandler     = (*loopHandler)(nil)
)

func connOf(sc *sched.Conn) *Conn {
	c, _ := sc.Context.(*Conn)
	return c
}

func (lh *loopHandler) OnOpen(sc *sched.Conn) {
	s := lh.s
	switch x := sc.Context.(type) {
	case *dialing: // a blocking Dial
		sc.Context = x.c
		lh.opened(x.c, sc, true)
		x.wait <- nil
		return
	case *Conn: // DialHandler from a callback
		lh.opened(x, sc, true)
		return
	}
	// The loops refuse SYNs during Shutdown and drop them at their share
	// of MaxConns; what still gets here past the server-wide bound (the
	// shares are uneven) is reset, and the handler never sees it.
	if m := s.cfg.MaxConns; m > 0 && s.conns.Load() >= int64(m) {
		s.limitDrops.Add(1)
		sc.Abort()
		return
	}
	c := &Conn{b: &s.bind}
	if s.bind.h == nil {
		newNetConn(s, c, s.lis)
	}
	sc.Context = c
	lh.opened(c, sc, false)
}

// opened binds c to its loop connection and runs OnOpen (a Dial waiting
// for it learns it succeeded once OnOpen returned).
func (lh *loopHandler) opened(c *Conn, sc *sched.Conn, dialed bool) {
	s := lh.s
	c.loop, c.sc = sc.Loop(), sc
	c.key = sc.Key()
	s.conns.Add(1)
	s.act(c, c.b.h.OnOpen(c))
	if s.draining.Load() && !dialed {
		// A handshake that was under way when Shutdown began.
		s.drainLate.Add(1)
		s.shutdownConn(c)
	}
}

func (lh *loopHandler) OnData(sc *sched.Conn, data []byte) {
	if c := connOf(sc); c != nil {
		lh.s.act(c, c.b.h.OnData(c, data))
	}
}

func (lh *loopHandler) OnEOF(sc *sched.Conn) {
	if c := connOf(sc); c != nil {
		c.closed.set(peerEOF)
		lh.s.act(c, c.b.h.OnEOF(c))
	}
}

func (lh *loopHandler) OnWritable(sc *sched.Conn) {
	if c := connOf(sc); c != nil {
		c.noteHeld(0)
		lh.s.act(c, c.b.h.OnWritable(c))
	}
}

func (lh *loopHandler) OnClose(sc *sched.Conn, err error) {
	if d, ok := sc.Context.(*dialing); ok {
		// A Dial that never opened: its caller gets the reason, the
		// handler nothing.
		sc.Context = nil
		d.c.closed.set(closedFlag)
		r := reason(err)
		if r == nil {
			r = ErrAborted
		}
		d.wait <- r
		return
	}
	c := connOf(sc)
	if c == nil {
		return
	}
	sc.Context = nil
	c.closed.set(closedFlag)
	if c.sc == nil {
		return // every Conn the handler saw has its sc
	}
	r := reason(err)
	c.sc = nil
	if r == nil && c.closed.has(peerFirst) {
		r = ErrPeerClosed
	}
	c.b.h.OnClose(c, r)
	s := lh.s
	if s.conns.Add(-1) == 0 && s.draining.Load() {
		select {
		case s.drained <- struct{}{}:
		default:
		}
	}
}

// OnTimeout: c's timer expired; its handler decides (Close without one).
func (lh *loopHandler) OnTimeout(sc *sched.Conn) {
	c := connOf(sc)
	if c == nil || c.sc == nil {
		return
	}
	a := Close
	if th, ok := c.b.h.(TimeoutHandler); ok {
		a = th.OnTimeout(c)
	}
	lh.s.act(c, a)
}

// OnTick: the loop's tick, for a Handler with one (none: ticks end at
// the first).
func (lh *loopHandler) OnTick(l *sched.Loop) time.Duration {
	th, ok := lh.s.bind.h.(TickHandler)
	if !ok {
		return 0
	}
	d, a := th.OnTick(l.Queue())
	if a == Shutdown {
		lh.s.act(nil, Shutdown) // act's Shutdown needs no connection
	}
	return d
}
