package sched

import (
	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/tcp/timewait"
)

// Turning TCB events into Handler callbacks. Every TCB call marks its
// connection dirty; settle then reads each dirty TCB's Events and runs the
// callbacks. Callbacks may call into other connections (which only marks
// them dirty in turn), so no callback ever runs inside another one's TCB
// call, and a connection is freed only here, never under a caller's feet.

// maxSettleRounds bounds one settle: connections that keep dirtying each
// other (two handlers ping-ponging) finish in the next iteration.
const maxSettleRounds = 4096

func (l *Loop) markDirty(c *Conn) {
	if !c.dirty {
		c.dirty = true
		l.dirty = append(l.dirty, c.idx)
	}
}

// settle processes the dirty connections.
func (l *Loop) settle() {
	for r := 0; len(l.dirty) > 0 && r < maxSettleRounds; r++ {
		i := l.dirty[len(l.dirty)-1]
		l.dirty = l.dirty[:len(l.dirty)-1]
		c := l.slab.Get(i)
		if c == nil || !c.dirty {
			continue
		}
		c.dirty = false
		l.process(c)
	}
}

// process runs c's pending events, then re-arms its timer from the TCB's
// Deadline (one wheel timer per connection: the earliest of the TCB's
// retransmission, delayed-ACK, persist, keepalive and 2MSL/FIN-WAIT-2
// instants).
func (l *Loop) process(c *Conn) {
	t := c.tcb
	if c.resumed {
		// ResumeRead: what waited in the receive buffer raised no event.
		c.resumed = false
		l.deliver(c)
	}
	for range 8 {
		ev := t.Events()
		if ev == 0 {
			break
		}
		if ev&tcp.EventEstablished != 0 && !c.opened {
			c.opened = true
			c.openBy = 0
			if c.lst != nil {
				// Every TCB the listener hands out is in our table
				// already; its accept queue is only a count to keep.
				for c.lst.Accept() != nil {
				}
				c.lst = nil
			}
			l.st.Established++
			c.h.OnOpen(c)
		}
		if ev&tcp.EventWritable != 0 && c.pending.Len() > 0 {
			l.drainPending(c)
		}
		l.deliver(c)
		if ev&tcp.EventClosed != 0 || t.State() == tcp.Closed {
			l.unpauseAtEnd(c)
			l.st.Entered[tcp.Closed]++
			// A dialed 4-tuple is free again before OnClose runs, so a
			// failed Dial's port may be redialed from the callback.
			l.releaseDial(c.dial)
			c.dial = nil
			l.finish(c, t.Err())
			c.dirty = false
			l.free(c)
			return
		}
		if ev&tcp.EventTimeWait != 0 {
			// The application is done. The 4-tuple is kept for 2*MSL
			// (RFC 9293 §3.6.1) in the compact table, freeing the TCB
			// and its buffers; when the table is full the connection
			// closes without TIME-WAIT (toTimeWait); with the table
			// off the TCB serves TIME-WAIT itself until EventClosed.
			// Text a paused reader left in the receive buffer is
			// delivered first. The ACK of the FIN that ended it goes
			// before the TCB does.
			l.push(c)
			l.unpauseAtEnd(c)
			l.finish(c, nil)
			if l.toTimeWait(c) {
				return
			}
			c.timeWaitAt = l.now
		}
	}
	l.push(c)
	if st := t.State(); st != c.state {
		c.state = st
		l.st.Entered[st]++
	}
	l.rearm(c)
}

// push sends the text c's Writes queued since the last push, and the ACK
// its last Input owes if no segment carries it: the per-callback cork
// (docs/design.md, Output). process pushes after the connection's
// callbacks, so what one callback writes, a Close after it and the ACK
// of what it answers leave together; pushDirty pushes what a settle cut
// short left.
func (l *Loop) push(c *Conn) {
	if !c.unpushed && !c.tcb.AckOwed() {
		return
	}
	c.unpushed = false
	prev := l.enter(c)
	c.tcb.Push(l.now)
	l.leave(prev)
}

// pushDirty pushes the text of connections still on the dirty list
// (a settle stopped at maxSettleRounds) before the iteration's TX flush,
// so no text waits past the iteration that wrote it; their callbacks run
// at the next settle.
func (l *Loop) pushDirty() {
	for _, i := range l.dirty {
		if c := l.slab.Get(i); c != nil && c.dirty {
			l.push(c)
			l.rearm(c)
		}
	}
}

// toTimeWait moves a connection that entered TIME-WAIT to the compact
// table and frees it. At the table's bound (LoopConfig.TimeWaitMax) the
// connection is freed without TIME-WAIT, counted by the table
// (timewait.Stats.RefusedFull), as Linux does past tcp_max_tw_buckets
// (TCPTimeWaitOverflow, "time wait bucket table overflow"): a TCB kept
// instead would hold kilobytes where an entry holds 48 octets, and
// without bound. The cost is what TIME-WAIT protects against: a
// retransmitted final FIN (our ACK lost) is answered by a RST, not an
// ACK, and an old duplicate could reach a new incarnation of the
// 4-tuple. A dialed 4-tuple's port is released at once. It reports
// false only when the table is off (the TCB serves TIME-WAIT).
func (l *Loop) toTimeWait(c *Conn) bool {
	if l.tw == nil {
		return false
	}
	if l.tw.Refuses(l.now) { // at the bound: counted, nothing to gather
		c.dirty = false
		l.free(c)
		return true
	}
	v := c.tcb.Vars()
	st := timewait.FromVars(&v)
	id := c.key.ID()
	if l.tw.Insert(&id, &st, l.now) {
		l.st.Entered[tcp.TimeWait]++
		if c.dial != nil {
			// The 4-tuple stays ours until the entry expires.
			_, exp, _ := l.tw.Lookup(&id, l.now)
			l.twDials = append(l.twDials, twDial{id: id, until: exp, res: c.dial})
			c.dial = nil
		}
	}
	c.dirty = false
	l.free(c)
	return true
}

// deliver hands received text to the handler, unless Write is holding
// text back or the handler paused reading (PauseRead): then the text stays
// in the receive buffer and the window closes until it drains, so the
// peer is told to slow down rather than this loop buffering without
// bound. The FIN is reported only after all text before it (TCB.EOF).
func (l *Loop) deliver(c *Conn) {
	t := c.tcb
	ended := t.State() == tcp.Closed // before delivery: unpauseAtEnd
	// Once the connection has ended in order (TIME-WAIT or CLOSED) there
	// is no later delivery: a pause no longer stops this one.
	final := ended || t.State() == tcp.TimeWait
	for range 4 {
		if !c.opened || c.done || c.pending.Len() > 0 || c.closeReq == closeFull || (c.readPaused && !final) {
			return
		}
		// All the text, as runs (held text, or one per buffer chunk).
		var buf [16][]byte
		runs := t.PeekAll(buf[:0])
		if len(runs) == 0 {
			break
		}
		for _, r := range runs {
			c.unread += int32(len(r))
		}
		for i, r := range runs {
			if i > 0 && ((c.readPaused && !final) || c.done || c.closeReq == closeFull || (!ended && t.State() == tcp.Closed)) {
				break // paused, closed or aborted from OnData
			}
			// Take each run before OnData sees it: the text stays in
			// place until the next Input, and a Close from inside OnData
			// must not see it unread (that would reset the connection,
			// RFC 2525 §2.17; Conn.close takes the rest, c.unread). A
			// pause leaves the rest in the buffer, so a paused reader
			// holds at most one run beyond what it asked for.
			c.unread -= int32(len(r))
			l.consume(c, len(r))
			c.h.OnData(c, r)
		}
		c.unread = 0
	}
	if !c.eof && !c.done && t.EOF() && t.State() != tcp.Closed {
		c.eof = true
		c.h.OnEOF(c)
	}
}

// consume takes n octets of c's received text from its TCB (which may
// send a window update).
func (l *Loop) consume(c *Conn, n int) {
	prev := l.enter(c)
	c.tcb.Consume(n, l.now)
	l.leave(prev)
	l.st.RxText += uint64(n)
}

// unpauseAtEnd delivers what a paused connection still holds when it
// ends in order (both FINs exchanged while the reader was paused): the
// buffers are freed with it, and the peer sent that text in good faith
// (a Linux socket keeps it readable after LAST-ACK or TIME-WAIT).
func (l *Loop) unpauseAtEnd(c *Conn) {
	if c.readPaused && c.tcb.Err() == nil {
		c.readPaused = false
		l.deliver(c)
	}
}

// drainPending moves Write's held-back text into the TCB's send buffer as
// ACKs free room (process pushes it), then applies a Close that waited
// for it, whose FIN rides on the last segment.
func (l *Loop) drainPending(c *Conn) {
	for c.pending.Len() > 0 {
		n, err := c.tcb.WriteMore(c.pending.Bytes())
		if err != nil {
			c.pending.reset()
			break
		}
		if n == 0 {
			break
		}
		c.unpushed = true
		c.pending.advance(n)
	}
	if c.pending.Len() > 0 {
		return
	}
	if c.closeReq > c.closed {
		l.applyClose(c)
		return
	}
	if w, ok := c.h.(WritableHandler); ok && !c.done {
		w.OnWritable(c)
	}
}

// applyClose passes a Close or CloseWrite to the TCB once no text waits.
func (l *Loop) applyClose(c *Conn) error {
	if c.closeReq <= c.closed {
		return nil
	}
	c.closed = c.closeReq
	prev := l.enter(c)
	var err error
	if c.closeReq == closeFull {
		err = c.tcb.Close(l.now)
	} else {
		err = c.tcb.CloseWrite(l.now)
	}
	l.leave(prev)
	l.markDirty(c)
	return err
}

// finish runs OnClose once, for connections the application saw open and
// for every dialed one (a failed Dial reports its reason there).
func (l *Loop) finish(c *Conn, err error) {
	if c.done {
		return
	}
	c.done = true
	c.pending.free()
	l.cancelAppTimer(c)
	l.addOpen(-1)
	if c.dialed && !c.opened {
		l.st.DialFailed++
		if c.timedOut {
			err = tcp.ErrTimeout
		}
	}
	if c.opened || c.dialed {
		l.st.Closed++
		c.h.OnClose(c, err)
	}
}
