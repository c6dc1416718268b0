package sluice

import (
	"github.com/sluicenet/sluice/sched"
)

// loopHandler turns the loops' callbacks (sched.Handler) into the public
// ones: it makes the Conn, keeps the per-loop set Shutdown walks, applies
// the connection limit and the Actions callbacks return, and maps close
// errors to the public reasons.
type loopHandler struct{ s *Server }

var (
	_ sched.Handler         = (*loopHandler)(nil)
	_ sched.WritableHandler = (*loopHandler)(nil)
)

func connOf(sc *sched.Conn) *Conn {
	c, _ := sc.Context.(*Conn)
	return c
}

func (lh *loopHandler) OnOpen(sc *sched.Conn) {
	s := lh.s
	// TODO(sched): refuse at the SYN (listener off, connection limit)
	// once sched has it; until then such a connection is reset as its
	// handshake completes, and its OnClose is not passed on.
	if s.draining.Load() {
		s.drainDrops.Add(1)
		sc.Abort()
		return
	}
	if m := s.cfg.MaxConns; m > 0 && s.conns.Load() >= int64(m) {
		s.limitDrops.Add(1)
		sc.Abort()
		return
	}
	c := &Conn{
		srv:    s,
		lp:     s.loops[sc.Loop().Queue()],
		loop:   sc.Loop(),
		sc:     sc,
		ref:    sc.Ref(),
		h:      s.h,
		local:  sc.LocalAddr(),
		remote: sc.RemoteAddr(),
	}
	if c.h == nil {
		c.h = newNetConn(c, s.lis)
	}
	sc.Context = c
	c.lp.add(c)
	s.conns.Add(1)
	s.act(c, c.h.OnOpen(c))
}

func (lh *loopHandler) OnData(sc *sched.Conn, data []byte) {
	if c := connOf(sc); c != nil {
		lh.s.act(c, c.h.OnData(c, data))
	}
}

func (lh *loopHandler) OnEOF(sc *sched.Conn) {
	if c := connOf(sc); c != nil {
		c.peerEOF = true
		lh.s.act(c, c.h.OnEOF(c))
	}
}

func (lh *loopHandler) OnWritable(sc *sched.Conn) {
	if c := connOf(sc); c != nil {
		c.held.Store(0)
		lh.s.act(c, c.h.OnWritable(c))
	}
}

func (lh *loopHandler) OnClose(sc *sched.Conn, err error) {
	c := connOf(sc)
	if c == nil {
		return
	}
	sc.Context = nil
	c.closed.Store(true)
	c.sc = nil
	c.lp.remove(c)
	r := reason(err)
	if r == nil && c.peerFirst {
		r = ErrPeerClosed
	}
	c.h.OnClose(c, r)
	s := lh.s
	if s.conns.Add(-1) == 0 && s.draining.Load() {
		select {
		case s.drained <- struct{}{}:
		default:
		}
	}
}
