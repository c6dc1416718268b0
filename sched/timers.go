package sched

import "github.com/sluicenet/sluice/tcp"

// TagEngine marks a connection's one wheel timer: the TCB's Deadline, the
// earliest of its retransmission (RFC 6298), delayed-ACK (RFC 9293
// §3.8.6.3), persist (§3.8.6.1), keepalive (§3.8.4) and 2*MSL or
// FIN-WAIT-2 instants. The TCB keeps those as plain instants and OnTimer
// runs whichever are due, so one wheel entry per connection suffices and
// re-arming it is a Reset of that entry.
const TagEngine TimerTag = TagTimeWait + 1

// rearm moves c's wheel timer to the TCB's Deadline (no wheel operation
// when it did not change, the common case for a segment that only
// advanced the window).
func (l *Loop) rearm(c *Conn) {
	d := c.tcb.Deadline()
	if c.openBy != 0 {
		d = min(d, c.openBy)
	}
	if d == c.armedAt {
		return
	}
	c.armedAt = d
	if d == tcp.Never {
		l.wheel.Cancel(c.timer)
		c.timer = 0
		return
	}
	l.wheel.Rearm(&c.timer, int64(d), TimerPayload{Conn: c.idx, Tag: TagEngine})
}

// fireTimers advances the wheel to now, running due TCB timers.
func (l *Loop) fireTimers() int {
	n := l.wheel.Advance(int64(l.now), l.fire)
	if n > 0 {
		l.st.TimersFired += uint64(n)
		l.settle()
	}
	if l.tw != nil && l.tw.Len() > 0 && l.tw.NextDeadline() <= l.now {
		n += l.tw.Expire(l.now)
	}
	if len(l.twDials) > 0 && l.twDials[0].until <= l.now {
		l.releaseTimeWaitDials()
	}
	return n
}

// onTimer runs a due wheel entry: the application's (apptimer.go), or a
// connection's TCB timers. The wheel's handle is already stale (the
// entry fired), so process re-arms from the new Deadline.
func (l *Loop) onTimer(p TimerPayload) {
	switch p.Tag {
	case TagApp:
		l.onAppTimer(p.Conn)
		return
	case TagTick:
		l.onTick()
		return
	}
	c := l.slab.Get(p.Conn)
	if c == nil {
		return // freed connections cancel their timer; nothing to do
	}
	c.timer, c.armedAt = 0, tcp.Never
	if !l.handshakeExpired(c) {
		prev := l.enter(c)
		c.tcb.OnTimer(l.now)
		l.leave(prev)
	}
	l.markDirty(c)
}
