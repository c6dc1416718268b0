package sched

import (
	"time"

	"github.com/sluicenet/sluice/tcp"
)

// Timers for the application: one per connection (Conn.SetTimer, whose
// expiry runs TimeoutHandler.OnTimeout) and one per loop (TickHandler),
// both entries of the loop's wheel beside the TCBs' own.
//
// A connection's timer is re-armed far more often than it fires (an
// idle or read timeout pushed back at every request), so re-arming it
// later is lazy: SetTimer stores the new due instant and leaves the
// wheel entry where it is; when that entry fires before the due instant
// it is placed again at it, without a callback. Only a SetTimer earlier
// than the entry moves it (TimerWheel.Reset, O(1)). StopTimer likewise
// only clears the due instant. So a connection costs at most one wheel
// operation per expiry period however often it re-arms, and one wheel
// entry (24 bytes, no pointers) while armed.

const (
	// TagApp marks a connection's application timer (Conn.SetTimer).
	TagApp TimerTag = TagEngine + 1
	// TagTick marks a loop's tick (TickHandler).
	TagTick TimerTag = TagApp + 1
)

// noConn is the payload's connection index of a timer that belongs to
// the loop, not to a connection (no slab index reaches it).
const noConn = ^uint32(0)

// TimeoutHandler is an optional Handler extension: OnTimeout runs on the
// loop when the instant Conn.SetTimer set has come. In an iteration the
// loop delivers received segments (OnData, OnEOF) before it runs due
// timers, so a SetTimer from OnData that pushed the instant back wins
// over an expiry in the same iteration. OnTimeout never runs after
// OnClose: finishing a connection cancels its timer.
type TimeoutHandler interface {
	OnTimeout(c *Conn)
}

// TickHandler is an optional Handler extension for per-loop
// housekeeping (gnet's OnTick): OnTick runs on each loop's thread, first
// in the loop's first timer run, then again after the delay it returns
// (rounded up to the wheel's tick, TimerTick); a delay <= 0 ends that
// loop's ticks. It stops with the loop.
type TickHandler interface {
	OnTick(l *Loop) time.Duration
}

// Now is the instant of the loop's current iteration: the clock
// SetTimer's instants are on. Loop thread only.
func (l *Loop) Now() tcp.Instant { return l.now }

// SetTimer arms c's application timer: at the first timer run at or
// after at (at most one TimerTick late), the handler's OnTimeout runs
// (TimeoutHandler; nothing for a Handler without it). A later SetTimer
// replaces the instant, earlier or later; an instant already passed
// fires in the current or next timer run. It does nothing once OnClose
// has run. O(1), no allocation in steady state (the first SetTimer of a
// connection takes the 64-octet connExt its timer lives in from a pool).
// Loop thread only.
func (c *Conn) SetTimer(at tcp.Instant) {
	if c.tcb == nil || c.done {
		return
	}
	e := c.extension()
	at = max(at, 1) // 0 means "not set"
	e.appDue = at
	if e.appTimer != 0 && e.appArmed <= at {
		return // the entry fires first and moves itself to at
	}
	e.appArmed = at
	c.loop.wheel.Rearm(&e.appTimer, int64(at), TimerPayload{Conn: c.idx, Tag: TagApp})
}

// StopTimer disarms c's application timer: OnTimeout will not run
// until a new SetTimer. O(1). Loop thread only.
func (c *Conn) StopTimer() {
	if c.ext != nil {
		c.ext.appDue = 0
	}
}

// Timer reports when c's application timer is due (0: not armed).
func (c *Conn) Timer() tcp.Instant {
	if c.ext == nil {
		return 0
	}
	return c.ext.appDue
}

// cancelAppTimer removes c's application timer from the wheel, when the
// connection finishes, and drops c's extension with it (the options it
// holds no longer matter: the TCB is done).
func (l *Loop) cancelAppTimer(c *Conn) {
	e := c.ext
	if e == nil {
		return
	}
	if e.appTimer != 0 {
		l.wheel.Cancel(e.appTimer)
	}
	c.dropExt()
}

// onAppTimer runs when a connection's application wheel entry fires:
// OnTimeout if it is due, else the entry moves to the instant a later
// SetTimer asked for.
func (l *Loop) onAppTimer(idx uint32) {
	c := l.slab.Get(idx)
	if c == nil || c.ext == nil {
		return // finish cancelled it; nothing can reach a freed slot
	}
	e := c.ext
	e.appTimer = 0
	due := e.appDue
	if due == 0 || c.done {
		return // stopped
	}
	if due > l.now {
		e.appArmed = due
		e.appTimer = l.wheel.Add(int64(due), TimerPayload{Conn: idx, Tag: TagApp})
		return
	}
	e.appDue = 0
	if th, ok := c.h.(TimeoutHandler); ok {
		th.OnTimeout(c)
	}
}

// armTick arms the loop's first tick when its Handler wants ticks.
func (l *Loop) armTick() {
	if th, ok := l.handler.(TickHandler); ok {
		l.ticker = th
		l.wheel.Add(int64(l.now), TimerPayload{Conn: noConn, Tag: TagTick})
	}
}

// onTick runs the loop's tick and arms the next one.
func (l *Loop) onTick() {
	d := l.ticker.OnTick(l)
	if d <= 0 {
		return
	}
	d = max(d, time.Duration(TimerTick))
	l.wheel.Add(int64(l.now.Add(d)), TimerPayload{Conn: noConn, Tag: TagTick})
}
