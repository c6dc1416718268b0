package sched

import (
	"fmt"
	"time"
)

// The pieces of a graceful shutdown (sluice.Server.Shutdown):
//
//	g.SetAccepting(false) // new SYNs to listened addresses get a RST
//	g.CloseAll()          // a FIN after what each connection has queued
//	for g.Conns() > 0 { wait, until the deadline }
//	g.AbortAll()          // a RST for what remains (OnClose: tcp.ErrAborted)
//	g.Close()
//
// The listen entries stay in the XDP program until Close: the program
// steers an accepted connection's segments by its listen entry, so
// removing it would hand the connections being drained to the kernel,
// which would reset them. Refusing happens in the loops instead.

// SetAccepting turns the loops' listeners off (false) or back on. While
// off, a segment to a listened address that belongs to no connection is
// answered as by a closed port (RFC 9293 §3.10.7.1: RST to a SYN, counted
// in Stats.Refused), as Linux answers once a listening socket is closed;
// connections already in the table, handshakes included, go on. It
// returns when every running loop has applied it (from a callback, the
// calling loop applies it at once and the others at their next
// iteration). Safe from any goroutine.
func (g *Group) SetAccepting(on bool) error {
	return g.onEach(func(l *Loop) { l.refusing = !on })
}

// CloseAll closes every connection of every loop gracefully (Conn.Close:
// a FIN after the text already written, including what Write holds
// back); connections still handshaking close as soon as they are
// established. Their OnClose follows as each finishes. As with close(2),
// text that arrives after the Close resets that connection (RFC 2525
// §2.17): use Each with CloseWrite for peers that are still sending.
// Returns as SetAccepting does.
func (g *Group) CloseAll() error {
	return g.onEach(func(l *Loop) { l.eachOpen(func(c *Conn) { c.Close() }) })
}

// AbortAll resets every connection that has not had its OnClose (Conn.
// Abort: a RST to the peer, OnClose with tcp.ErrAborted), e.g. at a
// shutdown deadline. Returns as SetAccepting does.
func (g *Group) AbortAll() error {
	return g.onEach(func(l *Loop) { l.eachOpen(func(c *Conn) { c.Abort() }) })
}

// Each runs fn on its loop's thread for every connection of the group
// that has not had its OnClose (a shutdown that treats connections one by
// one, e.g. closing idle ones first). Returns as SetAccepting does.
func (g *Group) Each(fn func(c *Conn)) error {
	return g.onEach(func(l *Loop) { l.eachOpen(fn) })
}

// Conns is how many connections of the group have not had their OnClose
// yet (Stats.Open summed; handshaking, open or closing, not TIME-WAIT):
// what a graceful shutdown waits to reach zero. Each loop publishes its
// count as it changes, so this is cheap and safe from any goroutine.
func (g *Group) Conns() int {
	n := 0
	for _, l := range g.loops {
		n += int(l.openPub.Load())
	}
	return n
}

// eachOpen runs fn for every connection in the table whose OnClose has
// not run. Loop thread only.
func (l *Loop) eachOpen(fn func(c *Conn)) {
	var idxs []uint32
	l.conns.Range(func(_ ConnKey, v uint32) bool { idxs = append(idxs, v); return true })
	for _, i := range idxs {
		if c := l.slab.Get(i); c != nil && c.tcb != nil && !c.done {
			fn(c)
		}
	}
	// No settle here: a posted function is settled after it runs, and a
	// callback's loop is settling already (callbacks never nest).
}

// onEach runs fn on every running loop and waits for each to have run it
// (a stopped loop is skipped: it has no connections left). From a loop's
// own thread that loop runs fn at once and the others are posted to
// without waiting: a loop waiting for another could deadlock.
func (g *Group) onEach(fn func(l *Loop)) error {
	type wait struct {
		l    *Loop
		done chan struct{}
	}
	var waits []wait
	var first error
	caller := g.onLoopThread()
	for _, l := range g.loops {
		if l.onThread() {
			fn(l)
			continue
		}
		done := make(chan struct{})
		if err := postRetry(l, func() { fn(l); close(done) }); err != nil {
			if err == ErrLoopClosed {
				continue
			}
			if first == nil {
				first = fmt.Errorf("sched: loop %d: %w", l.queue, err)
			}
			continue
		}
		if !caller {
			waits = append(waits, wait{l, done})
		}
	}
	for _, w := range waits {
		select {
		case <-w.done:
		case <-w.l.done: // stopped first: the work was dropped, nothing is left to do
		}
	}
	return first
}

// onLoopThread reports whether the caller is one of the group's loops.
func (g *Group) onLoopThread() bool {
	for _, l := range g.loops {
		if l.onThread() {
			return true
		}
	}
	return false
}

// postRetry posts fn, retrying a full ring for up to a second.
func postRetry(l *Loop, fn func()) error {
	wait := 10 * time.Microsecond
	var err error
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
		if err = l.Post(fn); err != ErrPostFull {
			return err
		}
		time.Sleep(wait)
		wait = min(2*wait, 10*time.Millisecond)
	}
	return err
}
