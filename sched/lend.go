package sched

import "github.com/sluicenet/sluice/tcp"

// Lend queues p as Write does, without copying it: the send buffer refers
// to p's memory and segments are built from it in place (TCB.WriteLent,
// as Linux's MSG_ZEROCOPY sends from the caller's pages). p must not
// change until done runs: on the loop thread, outside any callback of
// this connection, once the connection no longer refers to p (every
// octet acknowledged, or the connection released). done runs exactly
// once when Lend returns no error; on an error nothing was taken and done
// does not run. Text shorter than chunk.LendMin, or lent while earlier
// text waits beyond the send buffer (Buffered), is copied as Write
// copies it, and done runs at the loop's next turn.
func (c *Conn) Lend(p []byte, done func()) (int, error) {
	if c.tcb == nil {
		return 0, tcp.ErrClosed
	}
	if c.done || c.closeReq != closeNone || c.tcb.State() == tcp.Closed {
		if err := c.tcb.Err(); err != nil {
			return 0, err
		}
		return 0, tcp.ErrClosed
	}
	if c.pending.Len() == 0 {
		n, err := c.tcb.WriteLent(p, done)
		if err != nil {
			return 0, err
		}
		if n == len(p) {
			c.unpushed = true
			c.loop.markDirty(c)
			return n, nil
		}
	}
	n, err := c.Write(p)
	if err == nil {
		c.tcb.LentDone(done) // copied: released at the loop's next turn
	}
	return n, err
}

// runLendDone calls the release functions of lent text the loop's send
// buffers let go of, and of lent text Lend copied (chunk.Pool.RunDone).
// The loop calls it where a callback may run: at the start of an
// iteration (reap) and at its flush, never from inside a TCB, so a done
// that lends the next run does not land in a queue being consumed.
func (l *Loop) runLendDone() {
	if l.tcpCfg == nil || l.tcpCfg.Pool == nil {
		return
	}
	l.tcpCfg.Pool.RunDone()
	if p := l.tcpCfg6.Pool; p != nil && p != l.tcpCfg.Pool {
		p.RunDone()
	}
}
