package sluice

import (
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/sluicenet/sluice/sched"
)

// Conn is one TCP connection of a callback server (or a callback Dial).
//
// Its methods may be called from the connection's callbacks and from any
// other goroutine. Inside a callback they act at once; from elsewhere
// they are posted to the connection's loop (Loop.Post) and act at its
// next iteration, so they never race with the callbacks (telling the
// two apart costs two instructions, no system call). Write never
// blocks: what the TCP send buffer cannot take is queued (see Buffered
// and Handler.OnWritable), up to Config.WriteQueueLimit.
//
// A Conn must not be used after its OnClose returns; the methods then
// return net.ErrClosed.
type Conn struct {
	b    *binding
	loop *sched.Loop
	sc   *sched.Conn // loop thread only (posted functions too); nil once closed
	ctx  any

	// key is the 4-tuple, set with loop before any other goroutine can
	// hold c: 36 octets where two netip.AddrPorts take 64, since the
	// addresses stay readable after OnClose (the sched.Conn is reused).
	key sched.ConnKey

	// closed: OnClose has run (Load); it also holds the loop's record
	// of who closed first, for OnClose's reason, so the flags fit the
	// 4 octets the key leaves before the counters (class 96).
	closed connFlags
	posted atomic.Int64 // octets posted by other goroutines, not yet written
	held   atomic.Int64 // octets the loop's Write holds beyond the send buffer
}

// binding is the server a Conn belongs to and the Handler its callbacks
// go to, shared where they are the same: one in the Server for every
// connection of a callback server, one in each NetConn (its loop side is
// the handler), one per DialHandler. The Conn holds one pointer to it
// where the two took three words (class 96, not 112).
type binding struct {
	srv *Server
	h   Handler
}

// connFlags are a Conn's flags. closedFlag is read from any goroutine;
// the others are the loop's: who closed first, for OnClose's reason.
type connFlags struct{ v atomic.Uint32 }

const (
	closedFlag  uint32 = 1 << iota // OnClose has run
	peerEOF                        // the peer's FIN came in
	localClosed                    // Close or CloseWrite was called
	peerFirst                      // peerEOF came before localClosed
)

// Load reports whether OnClose has run.
func (f *connFlags) Load() bool          { return f.has(closedFlag) }
func (f *connFlags) has(bit uint32) bool { return f.v.Load()&bit != 0 }
func (f *connFlags) set(bits uint32)     { f.v.Or(bits) }

// onLoop reports whether the caller runs on c's loop (inside a callback
// or a posted function): the loop's owner token, compared without a
// system call; false before c has a loop.
func (c *Conn) onLoop() bool {
	return c.loop != nil && c.loop.OnThread()
}

// post runs fn with the live sched.Conn on c's loop, and reports an error
// when the loop is gone or its queue stays full.
func (c *Conn) post(fn func(sc *sched.Conn)) error {
	run := func() {
		if sc := c.sc; sc != nil { // on the loop: c.sc is its to read
			fn(sc)
		}
	}
	return postRetry(c.loop, run)
}

// postRetry posts fn, waiting briefly while the loop's queue is full
// (the caller is not a loop: it may wait).
func postRetry(l *sched.Loop, fn func()) error {
	wait := 10 * time.Microsecond
	for range 20 {
		err := l.Post(fn)
		if !errors.Is(err, sched.ErrPostFull) {
			if errors.Is(err, sched.ErrLoopClosed) {
				return net.ErrClosed
			}
			return err
		}
		time.Sleep(wait)
		wait = min(2*wait, 10*time.Millisecond)
	}
	return ErrLoopBusy
}

func (c *Conn) limit() int64 { return int64(c.b.srv.writeLimit) }

// Write queues p for sending and returns len(p), or an error and 0 when
// nothing was queued: net.ErrClosed after Close or OnClose,
// ErrWriteQueueFull when the queue beyond the send buffer would pass
// Config.WriteQueueLimit (wait for OnWritable), ErrLoopBusy from another
// goroutine when the loop took no posted work, or the reason the
// connection failed. p may be reused as soon as Write returns.
//
// Text written from a callback leaves when the callback returns, so the
// Writes of one callback go out as few segments as the MSS and window
// allow, and a Close in the same callback puts the FIN on the last one.
//
// What the TCP send buffer takes is sent as the peer's window allows;
// the rest waits in the write queue (Buffered). The send buffer grows
// with the path up to Config.WriteBufferMax, and under memory pressure
// (Config.MemoryLimit) takes only what the chunks it already holds can
// store, one chunk if it holds none: Write still returns len(p), and the
// queue, which is not in the budget, grows instead, up to
// WriteQueueLimit. OnWritable runs once the queue has all gone into the
// send buffer; under pressure that happens as the peer acknowledges text
// and chunks come free, a chunk at a time.
func (c *Conn) Write(p []byte) (int, error) {
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	if c.onLoop() {
		return c.writeLoop(p, true)
	}
	// From another goroutine: the limit counts what is posted and not yet
	// written as well as what the loop holds, so the check is made here,
	// and the loop writes what was admitted without checking again.
	n := int64(len(p))
	prev := c.posted.Add(n) - n + c.held.Load()
	if prev > 0 && prev+n > c.limit() {
		c.posted.Add(-n)
		return 0, ErrWriteQueueFull
	}
	buf := append([]byte(nil), p...)
	err := c.post(func(sc *sched.Conn) {
		c.posted.Add(-n)
		c.writeLoop(buf, false)
	})
	if err != nil {
		c.posted.Add(-n)
		return 0, err
	}
	return len(p), nil
}

// writeLoop is Write on the loop thread.
func (c *Conn) writeLoop(p []byte, check bool) (int, error) {
	sc := c.sc
	if sc == nil {
		return 0, net.ErrClosed
	}
	if held := sc.Buffered(); check && held > 0 && held+len(p) > c.b.srv.writeLimit {
		return 0, ErrWriteQueueFull
	}
	n, err := sc.Write(p)
	c.noteHeld(sc.Buffered())
	if err != nil {
		return 0, reason(err)
	}
	return n, nil
}

// noteHeld publishes how much the loop's Write holds beyond the send
// buffer, for other goroutines' Write limit and Buffered. The loop is
// its one writer, so the store (a locked exchange on amd64) is made only
// when the value changed: not after a Write the send buffer took whole.
func (c *Conn) noteHeld(n int) {
	if int64(n) != c.held.Load() {
		c.held.Store(int64(n))
	}
}

// Writev queues the buffers in order, as one Write of their
// concatenation would (all or nothing against the write queue limit).
func (c *Conn) Writev(bufs ...[]byte) (int, error) {
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	if !c.onLoop() {
		buf := make([]byte, 0, total)
		for _, b := range bufs {
			buf = append(buf, b...)
		}
		return c.Write(buf)
	}
	sc := c.sc
	if sc == nil {
		return 0, net.ErrClosed
	}
	if held := sc.Buffered(); held > 0 && held+total > c.b.srv.writeLimit {
		return 0, ErrWriteQueueFull
	}
	n, err := sc.Writev(bufs)
	c.noteHeld(sc.Buffered())
	if err != nil {
		return n, reason(err)
	}
	return n, nil
}

// Buffered is how many octets Write holds beyond the TCP send buffer
// (including Writes from other goroutines not yet applied): non-zero
// means the peer reads slower than the application writes. From outside
// the loop it is an upper bound.
func (c *Conn) Buffered() int {
	if !c.closed.Load() && c.onLoop() && c.sc != nil {
		return c.sc.Buffered()
	}
	return int(c.held.Load() + c.posted.Load())
}

// Close closes the connection gracefully: a FIN follows what was written
// (RFC 9293 §3.10.4), and no more data is delivered. Data arriving after
// Close resets the connection, as Linux does (RFC 2525 §2.17). OnClose
// follows once the close completes.
func (c *Conn) Close() error { return c.closeHow(false) }

// CloseWrite half-closes: a FIN follows what was written, and receiving
// goes on (shutdown(SHUT_WR), as *net.TCPConn's CloseWrite).
func (c *Conn) CloseWrite() error { return c.closeHow(true) }

func (c *Conn) closeHow(half bool) error {
	if c.closed.Load() {
		return net.ErrClosed
	}
	if c.onLoop() {
		if c.sc == nil {
			return net.ErrClosed
		}
		return c.closeOn(c.sc, half)
	}
	// Only a close from off the loop builds a closure: from a callback
	// (every Connection: close answer) it would be an allocation each.
	return c.post(func(sc *sched.Conn) { c.closeOn(sc, half) })
}

// closeOn is Close (half: CloseWrite) on the loop.
func (c *Conn) closeOn(sc *sched.Conn, half bool) error {
	if !c.closed.has(localClosed) {
		f := localClosed
		if c.closed.has(peerEOF) {
			f |= peerFirst
		}
		c.closed.set(f)
	}
	var err error
	if half {
		err = sc.CloseWrite()
	} else {
		err = sc.Close()
	}
	return reason(err)
}

// Abort resets the connection (RFC 9293 §3.10.5 ABORT): a RST goes out,
// queued data is dropped, and OnClose follows with ErrAborted.
func (c *Conn) Abort() error {
	if c.closed.Load() {
		return net.ErrClosed
	}
	if c.onLoop() {
		if c.sc == nil {
			return net.ErrClosed
		}
		c.sc.Abort()
		return nil
	}
	return c.post(func(sc *sched.Conn) { sc.Abort() })
}

// PauseRead stops OnData (and OnEOF) for this connection until
// ResumeRead: what arrives stays in the TCP receive buffer, so the window
// advertised to the peer closes and the peer waits (RFC 9293 §3.8.6)
// instead of the application buffering without bound. The second half
// of a wrapped receive buffer may still follow an OnData that paused.
// From a callback it acts at once; from elsewhere at the loop's next
// iteration.
func (c *Conn) PauseRead() error {
	return c.onLoopDo(func(sc *sched.Conn) { sc.PauseRead() })
}

// ResumeRead undoes PauseRead: the text held meanwhile, then the peer's
// FIN if it came, are delivered, and the window opens again.
func (c *Conn) ResumeRead() error {
	return c.onLoopDo(func(sc *sched.Conn) { sc.ResumeRead() })
}

// onLoopDo runs fn with the live sched.Conn: at once on the loop, else
// posted.
func (c *Conn) onLoopDo(fn func(sc *sched.Conn)) error {
	if c.closed.Load() {
		return net.ErrClosed
	}
	if c.onLoop() {
		if c.sc == nil {
			return net.ErrClosed
		}
		fn(c.sc)
		return nil
	}
	return c.post(fn)
}

// LocalAddr is the server's address and port of the connection.
func (c *Conn) LocalAddr() netip.AddrPort { return c.key.Local() }

// RemoteAddr is the peer's address and port.
func (c *Conn) RemoteAddr() netip.AddrPort { return c.key.Remote() }

// SetNoDelay turns Nagle's algorithm off (true, the default unless
// Config.Nagle) or on, as (*net.TCPConn).SetNoDelay.
func (c *Conn) SetNoDelay(noDelay bool) error {
	return c.sockopt(func(sc *sched.Conn) error { return sc.SetNoDelay(noDelay) })
}

// SetKeepAlive turns keep-alive probes (RFC 9293 §3.8.4) on or off for
// this connection, with Config.KeepAlive's timing unless
// SetKeepAliveConfig set other (as (*net.TCPConn).SetKeepAlive).
func (c *Conn) SetKeepAlive(on bool) error {
	return c.sockopt(func(sc *sched.Conn) error { return sc.SetKeepAlive(on) })
}

// SetKeepAlivePeriod sets the idle time and the probe interval to d and
// turns probes on (as (*net.TCPConn).SetKeepAlivePeriod).
func (c *Conn) SetKeepAlivePeriod(d time.Duration) error {
	return c.sockopt(func(sc *sched.Conn) error { return sc.SetKeepAlivePeriod(d) })
}

// SetKeepAliveConfig configures keep-alive probes as
// (*net.TCPConn).SetKeepAliveConfig: positive Idle, Interval and Count
// replace the current values.
func (c *Conn) SetKeepAliveConfig(kc net.KeepAliveConfig) error {
	return c.sockopt(func(sc *sched.Conn) error { return sc.SetKeepAliveConfig(kc) })
}

// sockopt runs set on the loop: at once from a callback, else posted
// and waited for (the caller is not a loop, so it may wait).
func (c *Conn) sockopt(set func(sc *sched.Conn) error) error {
	if c.closed.Load() {
		return net.ErrClosed
	}
	if c.onLoop() {
		if c.sc == nil {
			return net.ErrClosed
		}
		return reason(set(c.sc))
	}
	done := make(chan error, 1)
	err := postRetry(c.loop, func() {
		sc := c.sc
		if sc == nil {
			done <- net.ErrClosed
			return
		}
		done <- reason(set(sc))
	})
	if err != nil {
		return err
	}
	return <-done
}

// SetContext attaches a value to the connection (typically in OnOpen),
// for its callbacks to read back with Context. Call it from the
// connection's callbacks.
func (c *Conn) SetContext(v any) { c.ctx = v }

// Context returns the value SetContext attached.
func (c *Conn) Context() any { return c.ctx }

// Server is the server the connection belongs to.
func (c *Conn) Server() *Server { return c.b.srv }
