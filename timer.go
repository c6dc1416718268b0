package sluice

import (
	"net"
	"time"

	"github.com/sluicenet/sluice/sched"
	"github.com/sluicenet/sluice/tcp"
)

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
