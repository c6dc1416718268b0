package sluice

import "net"

// Lend queues p for sending as Write does, without copying it: the TCP
// send buffer refers to p's memory and segments are built from it in
// place, as Linux's MSG_ZEROCOPY sends from the caller's pages. It suits
// large immutable bytes (a static body, a cached file): Write copies
// what it is given into the send buffer, and what the buffer has no room
// for into the write queue, before the first segment leaves.
//
// The caller lends p: it must not change p until done runs. done runs
// exactly once, on c's loop outside any callback (it may Write, Lend or
// Close, on c or another connection), once c no longer refers to p:
// every octet acknowledged by the peer, or the connection ended; done
// may be nil for bytes that never change (a static body). p is
// taken whole, whatever room the send buffer has (its memory is the
// caller's, not the server's); the text does not count against
// Config.WriteQueueLimit or Config.MemoryLimit. Text shorter than two
// 4 KiB pages, or lent while written text waits in the write queue
// (Buffered), is copied as Write copies it, and done runs at the loop's
// next iteration.
//
// Lend returns len(p), or 0 and an error as Write does; then nothing
// was taken and done does not run. From another goroutine the lend is
// posted like a Write (without a copy); if the connection has ended by
// the time it runs, done runs then. Lends posted when the server is
// closing may be dropped with its loop, and their done not run.
func (c *Conn) Lend(p []byte, done func()) (int, error) {
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	if c.onLoop() {
		return c.lendLoop(p, done)
	}
	err := postRetry(c.loop, func() {
		if c.sc != nil {
			if _, err := c.lendLoop(p, done); err == nil {
				return
			}
		}
		if done != nil {
			done()
		}
	})
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// lendLoop is Lend on the loop thread.
func (c *Conn) lendLoop(p []byte, done func()) (int, error) {
	sc := c.sc
	if sc == nil {
		return 0, net.ErrClosed
	}
	if held := sc.Buffered(); held > 0 && held+len(p) > c.b.srv.writeLimit {
		return 0, ErrWriteQueueFull // it would be copied into the queue
	}
	n, err := sc.Lend(p, done)
	c.held.Store(int64(sc.Buffered()))
	if err != nil {
		return 0, reason(err)
	}
	return n, nil
}
