package sluice

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/sluicenet/sluice/sched"
)

// NetConn is a sluice connection as a net.Conn: what Listener's Accept
// and Server.Dial return. Read and Write block the calling goroutine (never
// a loop) and honour deadlines; the loop and the goroutine meet in two
// bounded buffers:
//
//   - Received data is copied out of the loop into a buffer Read drains.
//     When the unread data reaches 4*ReadBuffer (at least 1 MiB) the
//     connection stops taking data from its receive buffer
//     (sched.Conn.PauseRead), so the advertised window closes and the
//     peer waits (RFC 9293 §3.8.6) rather than memory growing; once Read
//     has drained it to half that, delivery resumes. A slow reader loses
//     nothing; it slows the sender down.
//   - Write posts the data to the loop in chunks and waits while more
//     than the connection's write allowance (WriteBuffer, at least
//     256 KiB) is queued beyond the TCP send buffer: a slow peer slows
//     the writer down instead of growing memory.
//
// During Server.Shutdown a connection gets a FIN when the application
// waits in Read for data at its idle point: the Read began after the last
// Write returned, no Write is under way, the data received last has been
// answered (a Write since) and everything written is in the TCP send
// buffer. That is where a request-response protocol waits for its next
// request, so net/http's idle keep-alive connections end and its
// responses in flight finish first: a Read that was already waiting when
// a Write began (net/http's background read during a handler) is not the
// idle point, however the Writes are spaced. After the FIN, Write fails
// with EPIPE (nothing written is dropped silently). Calling
// http.Server.Shutdown first, or at the same time, is as good. A protocol
// whose reader stays blocked in one Read while another goroutine writes
// never reaches the idle point: it should close its connections itself,
// or they are reset at Shutdown's deadline.
//
// Errors: net.ErrClosed after Close, os.ErrDeadlineExceeded past a
// deadline, io.EOF from Read after the peer's FIN, and ErrReset,
// ErrTimeout, ErrAborted, ErrServerClosed after the connection failed
// (each in a *net.OpError, as net's own).
type NetConn struct {
	c   *Conn
	lis *listener
	b   binding // c's: the server, and the loop side as its handler

	mu        sync.Mutex
	rbuf      []byte
	roff      int
	rerr      error  // the connection is over: why
	queued    int    // octets posted, not yet in the TCP send buffer
	recvs     uint64 // OnData calls so far
	answered  uint64 // recvs when Write was last called
	writing   int    // Writes under way
	writes    uint64 // Writes begun so far
	eof       bool   // the peer's FIN arrived
	closed    bool   // Close was called
	wclosed   bool   // CloseWrite or Close was called
	draining  bool   // Shutdown asked it to finish
	finSent   bool   // the drain FIN was posted
	paused    bool   // delivery is paused (unread data reached readCap)
	resuming  bool   // ResumeRead posted; what the TCP buffer held is not yet here
	rdeadline time.Time
	wdeadline time.Time
	readWake  chan struct{}
	writeWake chan struct{}

	loopHeld int // loop thread only: octets written while the send buffer was full
}

const (
	chunk      = 64 << 10
	minWriteQ  = 256 << 10
	minReadCap = 1 << 20
)

var (
	_ net.Conn        = (*NetConn)(nil)
	_ Handler         = (*loopSide)(nil)
	_ ShutdownHandler = (*loopSide)(nil)
)

// newNetConn makes c a NetConn of s: its callbacks go to the NetConn's
// loop side. lis is nil for a Dial.
func newNetConn(s *Server, c *Conn, lis *listener) *NetConn {
	nc := &NetConn{c: c, lis: lis, readWake: make(chan struct{}, 1), writeWake: make(chan struct{}, 1)}
	nc.b = binding{srv: s, h: (*loopSide)(nc)}
	c.b = &nc.b
	return nc
}

func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (nc *NetConn) writeAllowance() int {
	return max(orInt(nc.b.srv.cfg.WriteBuffer, DefaultBuffer), minWriteQ)
}

// readCap is the unread data at which delivery pauses; it resumes once
// Read has drained it to readCap/2 (hysteresis: one resume per half
// buffer read, not one per Read). The buffer can pass readCap by what the
// loop took from the receive buffer in the delivery that reached it (at
// most the TCP receive buffer).
func (nc *NetConn) readCap() int {
	return max(4*orInt(nc.b.srv.cfg.ReadBuffer, DefaultBuffer), minReadCap)
}

func (nc *NetConn) opErr(op string, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	return opError(op, nc.LocalAddr(), nc.RemoteAddr(), err)
}

// Read reads received data; it blocks until some is there, the peer
// closed (io.EOF), the connection failed, or the read deadline passed.
func (nc *NetConn) Read(p []byte) (int, error) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	// Only a Read that begins with no Write under way, and sees no Write
	// begin while it waits, can be the drain's idle point.
	nc.mu.Lock()
	idle, writes := nc.writing == 0, nc.writes
	nc.mu.Unlock()
	for {
		nc.mu.Lock()
		if nc.closed {
			nc.mu.Unlock()
			return 0, nc.opErr("read", net.ErrClosed)
		}
		if nc.roff < len(nc.rbuf) {
			n := copy(p, nc.rbuf[nc.roff:])
			nc.roff += n
			if nc.roff == len(nc.rbuf) {
				nc.rbuf, nc.roff = nc.rbuf[:0], 0
			}
			resume := nc.paused && len(nc.rbuf)-nc.roff <= nc.readCap()/2
			if resume {
				nc.paused, nc.resuming = false, true
			}
			nc.mu.Unlock()
			if resume {
				nc.resume()
			}
			return n, nil
		}
		if len(p) == 0 {
			nc.mu.Unlock()
			return 0, nil
		}
		if nc.eof {
			nc.mu.Unlock()
			return 0, io.EOF
		}
		if err := nc.rerr; err != nil {
			nc.mu.Unlock()
			if errors.Is(err, io.EOF) {
				return 0, io.EOF
			}
			return 0, nc.opErr("read", err)
		}
		dl := nc.rdeadline
		if !dl.IsZero() && !time.Now().Before(dl) {
			nc.mu.Unlock()
			return 0, nc.opErr("read", os.ErrDeadlineExceeded)
		}
		fin := nc.atIdlePoint(idle, writes)
		if fin {
			// A later Write fails (EPIPE) rather than being dropped
			// after the FIN.
			nc.finSent, nc.wclosed = true, true
		}
		nc.mu.Unlock()
		if fin {
			nc.c.CloseWrite()
		}
		waitUntil(nc.readWake, dl, &timer)
	}
}

// atIdlePoint reports whether a draining server ends the connection in
// this Read: it waits for the next request, the last one answered and
// everything written in the TCP send buffer (an idle keep-alive
// connection gets its FIN, a busy one after its response). idle and
// writes are what the Read saw when it began. nc.mu held.
func (nc *NetConn) atIdlePoint(idle bool, writes uint64) bool {
	return nc.draining && // Shutdown asked the connection to finish
		!nc.finSent && !nc.wclosed && // no FIN sent or asked for yet
		// No Write was under way when the Read began, and none began
		// since: a Read waiting while a Write began (net/http's
		// background read during a handler) is not idle, the response
		// may go on in more Writes and a FIN between two would cut it.
		idle && nc.writes == writes &&
		nc.writing == 0 && // no Write under way now
		nc.queued == 0 && // everything written is in the TCP send buffer
		nc.answered == nc.recvs && // the data received last was answered by a Write
		!nc.paused && // no data held back in the TCP receive buffer ...
		!nc.resuming // ... nor released and not yet delivered
}

// resume asks the loop to deliver again (ResumeRead). resuming stays set
// until the text the TCP receive buffer held has reached OnData (or there
// was none), so the drain's idle point does not take the gap for idleness.
func (nc *NetConn) resume() {
	err := nc.c.post(func(sc *sched.Conn) {
		sc.ResumeRead()
		if sc.TCB().Buffered() == 0 {
			nc.resumed()
		}
	})
	if err != nil {
		nc.resumed()
	}
}

func (nc *NetConn) resumed() {
	nc.mu.Lock()
	nc.resuming = false
	nc.mu.Unlock()
	poke(nc.readWake)
}

// Write sends p: it returns once all of p is queued for sending (not
// acknowledged), blocking while the connection's write allowance is
// used up, until the write deadline.
func (nc *NetConn) Write(p []byte) (int, error) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	written := 0
	nc.mu.Lock()
	nc.answered = nc.recvs
	nc.writing++
	nc.writes++
	nc.mu.Unlock()
	defer func() {
		nc.mu.Lock()
		nc.writing--
		drain := nc.draining
		nc.mu.Unlock()
		if drain {
			poke(nc.readWake) // a Read begun after this may be idle now
		}
	}()
	for written < len(p) {
		nc.mu.Lock()
		if nc.closed {
			nc.mu.Unlock()
			return written, nc.opErr("write", net.ErrClosed)
		}
		if nc.wclosed {
			nc.mu.Unlock()
			return written, nc.opErr("write", syscall.EPIPE)
		}
		if err := nc.rerr; err != nil {
			nc.mu.Unlock()
			if errors.Is(err, io.EOF) {
				err = syscall.EPIPE
			}
			return written, nc.opErr("write", err)
		}
		dl := nc.wdeadline
		if !dl.IsZero() && !time.Now().Before(dl) {
			nc.mu.Unlock()
			return written, nc.opErr("write", os.ErrDeadlineExceeded)
		}
		room := nc.writeAllowance() - nc.queued
		if room > 0 {
			n := min(room, chunk, len(p)-written)
			nc.queued += n
			nc.mu.Unlock()
			buf := append([]byte(nil), p[written:written+n]...)
			if err := nc.c.post(func(sc *sched.Conn) { nc.loopWrite(sc, buf) }); err != nil {
				nc.release(n)
				return written, nc.opErr("write", err)
			}
			written += n
			continue
		}
		nc.mu.Unlock()
		waitUntil(nc.writeWake, dl, &timer)
	}
	return written, nil
}

// loopWrite is the loop's half of Write: the octets count against the
// allowance until they are in the TCP send buffer.
func (nc *NetConn) loopWrite(sc *sched.Conn, buf []byte) {
	if _, err := sc.Write(buf); err != nil {
		nc.release(len(buf))
		return
	}
	if sc.Buffered() == 0 {
		nc.release(len(buf) + nc.loopHeld)
		nc.loopHeld = 0
		return
	}
	nc.loopHeld += len(buf)
}

func (nc *NetConn) release(n int) {
	nc.mu.Lock()
	nc.queued = max(nc.queued-n, 0)
	drain := nc.draining
	nc.mu.Unlock()
	poke(nc.writeWake)
	if drain {
		poke(nc.readWake) // a waiting Read may now be at the idle point
	}
}

// Close closes the connection gracefully (a FIN after what was written);
// blocked Reads and Writes return net.ErrClosed. A second Close returns
// an error matching net.ErrClosed.
func (nc *NetConn) Close() error {
	nc.mu.Lock()
	if nc.closed {
		nc.mu.Unlock()
		return nc.opErr("close", net.ErrClosed)
	}
	nc.closed, nc.wclosed = true, true
	over := nc.rerr != nil
	nc.mu.Unlock()
	poke(nc.readWake)
	poke(nc.writeWake)
	if over {
		return nil
	}
	if err := nc.c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return nc.opErr("close", err)
	}
	return nil
}

// CloseWrite half-closes (a FIN after what was written; reading goes
// on), as (*net.TCPConn).CloseWrite.
func (nc *NetConn) CloseWrite() error {
	nc.mu.Lock()
	if nc.closed {
		nc.mu.Unlock()
		return nc.opErr("close", net.ErrClosed)
	}
	nc.wclosed = true
	nc.mu.Unlock()
	return nc.opErr("close", nc.c.CloseWrite())
}

// Abort resets the connection (RST), as SetLinger(0) then Close does.
func (nc *NetConn) Abort() error {
	nc.mu.Lock()
	nc.closed, nc.wclosed = true, true
	nc.mu.Unlock()
	poke(nc.readWake)
	poke(nc.writeWake)
	return nc.c.Abort()
}

// LocalAddr is the local end, a *net.TCPAddr.
func (nc *NetConn) LocalAddr() net.Addr { return net.TCPAddrFromAddrPort(nc.c.LocalAddr()) }

// RemoteAddr is the peer's end, a *net.TCPAddr.
func (nc *NetConn) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(nc.c.RemoteAddr()) }

// SetDeadline sets both the read and the write deadline.
func (nc *NetConn) SetDeadline(t time.Time) error {
	nc.SetReadDeadline(t)
	return nc.SetWriteDeadline(t)
}

// SetReadDeadline bounds blocked and future Reads (zero: no deadline);
// a Read past it fails with os.ErrDeadlineExceeded.
func (nc *NetConn) SetReadDeadline(t time.Time) error {
	nc.mu.Lock()
	nc.rdeadline = t
	nc.mu.Unlock()
	poke(nc.readWake)
	return nil
}

// SetWriteDeadline bounds blocked and future Writes (zero: no deadline).
func (nc *NetConn) SetWriteDeadline(t time.Time) error {
	nc.mu.Lock()
	nc.wdeadline = t
	nc.mu.Unlock()
	poke(nc.writeWake)
	return nil
}

// SetNoDelay turns Nagle's algorithm off or on (*net.TCPConn's).
func (nc *NetConn) SetNoDelay(noDelay bool) error { return nc.c.SetNoDelay(noDelay) }

// SetKeepAlive turns keep-alive probes on or off (*net.TCPConn's).
func (nc *NetConn) SetKeepAlive(on bool) error { return nc.c.SetKeepAlive(on) }

// SetKeepAlivePeriod sets the keep-alive idle time and interval
// (*net.TCPConn's).
func (nc *NetConn) SetKeepAlivePeriod(d time.Duration) error { return nc.c.SetKeepAlivePeriod(d) }

// SetKeepAliveConfig configures keep-alive probes (*net.TCPConn's).
func (nc *NetConn) SetKeepAliveConfig(kc net.KeepAliveConfig) error {
	return nc.c.SetKeepAliveConfig(kc)
}

// Conn is the callback-level connection underneath.
func (nc *NetConn) Conn() *Conn { return nc.c }

// loopSide is NetConn's other face: the connection's Handler, run by the
// loop (a separate type so that NetConn's users do not see callbacks).
type loopSide NetConn

func (ls *loopSide) OnOpen(c *Conn) Action {
	nc := (*NetConn)(ls)
	if nc.lis == nil {
		return None // a Dial: the dialer waits for OnOpen itself
	}
	if !nc.lis.offer(nc) {
		c.b.srv.limitDrops.Add(1)
		c.Abort()
	}
	return None
}

func (ls *loopSide) OnData(c *Conn, data []byte) Action {
	nc := (*NetConn)(ls)
	nc.mu.Lock()
	if nc.closed {
		nc.mu.Unlock()
		return None
	}
	if nc.roff > 0 && nc.roff >= len(nc.rbuf)/2 {
		n := copy(nc.rbuf, nc.rbuf[nc.roff:])
		nc.rbuf, nc.roff = nc.rbuf[:n], 0
	}
	nc.recvs++
	nc.resuming = false
	nc.rbuf = append(nc.rbuf, data...)
	pause := !nc.paused && len(nc.rbuf)-nc.roff >= nc.readCap()
	if pause {
		nc.paused = true
	}
	nc.mu.Unlock()
	if pause {
		// The reader fell behind: leave further data in the TCP
		// receive buffer, so the window closes (RFC 9293 §3.8.6),
		// until Read drains this buffer to half (ResumeRead).
		c.PauseRead()
	}
	poke(nc.readWake)
	return None
}

func (ls *loopSide) OnWritable(c *Conn) Action {
	nc := (*NetConn)(ls)
	nc.release(nc.loopHeld)
	nc.loopHeld = 0
	return None
}

func (ls *loopSide) OnEOF(c *Conn) Action {
	nc := (*NetConn)(ls)
	nc.mu.Lock()
	nc.eof = true
	nc.mu.Unlock()
	poke(nc.readWake)
	return None
}

func (ls *loopSide) OnClose(c *Conn, err error) {
	nc := (*NetConn)(ls)
	if err == nil {
		err = ErrPeerClosed // orderly: reads see io.EOF, writes EPIPE
	}
	nc.mu.Lock()
	nc.rerr = err
	nc.queued = 0
	nc.mu.Unlock()
	nc.loopHeld = 0
	poke(nc.readWake)
	poke(nc.writeWake)
}

// OnShutdown: the connection's next idle point (see NetConn: a Read begun
// after the last Write returned, no Write under way, nothing to read,
// everything written in the TCP send buffer, the last data received
// answered) sends a FIN; Read then waits for the peer's.
func (ls *loopSide) OnShutdown(c *Conn) Action {
	nc := (*NetConn)(ls)
	nc.mu.Lock()
	nc.draining = true
	nc.mu.Unlock()
	poke(nc.readWake)
	return None
}

// waitUntil blocks until wake fires or the deadline dl passes (never, for
// a zero dl), reusing *timer across waits of one Read or Write.
func waitUntil(wake <-chan struct{}, dl time.Time, timer **time.Timer) {
	var tc <-chan time.Time
	if !dl.IsZero() {
		if *timer == nil {
			*timer = time.NewTimer(time.Until(dl))
		} else {
			(*timer).Reset(time.Until(dl))
		}
		tc = (*timer).C
	}
	select {
	case <-wake:
	case <-tc:
	}
}
