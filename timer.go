package sluice

import (
	"net"
	"time"

	"github.com/sluicenet/sluice/sched"
	"github.com/sluicenet/sluice/tcp"
)

// TimeoutHandler is an optional Handler extension: OnTimeout runs on the
// connection's loop when the time Conn.SetTimeout set has passed (a
// Handler without it has the connection closed, as by returning Close).
// Return Close to close (a FIN after what was written; Conn.Abort for a
// RST), None to keep the connection (SetTimeout again for another
// expiry), Shutdown to shut the server down.
//
// Order: OnTimeout runs between the connection's other callbacks, after
// OnOpen and never after OnClose (the timer ends with the connection).
// In a loop iteration received segments are handled before timers, so
// data that reached the loop by the time the timeout is due is delivered
// first, and a SetTimeout from that OnData wins. The timer keeps running
// after Close until OnClose, so it can bound a close that does not
// complete (a peer that never reads), e.g. with Abort. During
// Server.Shutdown timers go on firing until the connection ends; at
// Server.Close every connection gets OnClose and no timer fires after it.
type TimeoutHandler interface {
	OnTimeout(c *Conn) Action
}

// TickHandler is an optional Handler extension for per-loop housekeeping
// (gnet's OnTick, once per loop): OnTick runs on each loop's thread, as
// a callback among that loop's connections' (so per-loop state indexed
// by loop needs no lock), first at the loop's start, then after the
// delay it returns (rounded up to the loop's 1 ms timer tick). A delay
// <= 0 ends the ticks of that loop. loop is the loop's index,
// 0..Info().Loops-1. The Action may be None or Shutdown. Ticks go on
// during Server.Shutdown and stop when the loops stop.
type TickHandler interface {
	OnTick(loop int) (delay time.Duration, a Action)
}

// SetTimeout arms the connection's timer: once d has passed, OnTimeout
// runs (TimeoutHandler; without one the connection is closed). Each call
// replaces the previous setting, earlier or later; d <= 0 stops the
// timer. A connection has one timer: a protocol with several timeouts (a
// request head's, a keep-alive idle one, ...) sets the one its current
// phase needs. From a callback it acts at once, in O(1) and without
// allocating (moving the time later, the common case of a timeout pushed
// back by each request, is a field store); from another goroutine it is
// posted to the loop, d counting from the call. The timer's resolution
// is the loop's 1 ms tick: it never fires early, and at most a tick late
// on a loop that is not overloaded.
func (c *Conn) SetTimeout(d time.Duration) error {
	if c.closed.Load() {
		return net.ErrClosed
	}
	if c.onLoop() {
		sc := c.sc
		if sc == nil {
			return net.ErrClosed
		}
		setTimer(sc, sc.Loop().Now().Add(d), d)
		return nil
	}
	at := sched.Now().Add(d)
	return c.post(func(sc *sched.Conn) { setTimer(sc, at, d) })
}

func setTimer(sc *sched.Conn, at tcp.Instant, d time.Duration) {
	if d <= 0 {
		sc.StopTimer()
		return
	}
	sc.SetTimer(at)
}

var (
	_ sched.TimeoutHandler = (*loopHandler)(nil)
	_ sched.TickHandler    = (*loopHandler)(nil)
)

// OnTimeout: c's timer expired; its handler decides (Close without one).
func (lh *loopHandler) OnTimeout(sc *sched.Conn) {
	c := connOf(sc)
	if c == nil || c.sc == nil {
		return
	}
	a := Close
	if th, ok := c.h.(TimeoutHandler); ok {
		a = th.OnTimeout(c)
	}
	lh.s.act(c, a)
}

// OnTick: the loop's tick, for a Handler with one (none: ticks end at
// the first).
func (lh *loopHandler) OnTick(l *sched.Loop) time.Duration {
	th, ok := lh.s.h.(TickHandler)
	if !ok {
		return 0
	}
	d, a := th.OnTick(l.Queue())
	if a == Shutdown {
		lh.s.act(nil, Shutdown)
	}
	return d
}
