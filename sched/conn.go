package sched

import (
	"net/netip"
	"sync"

	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/wire"
)

// Handler is the loop's application interface, which the public API
// (package sluice) wraps. Every callback runs on the loop's thread, one
// at a time per loop; a Handler shared by several loops is called from
// all of them concurrently.
type Handler interface {
	// OnOpen: the connection is ESTABLISHED.
	OnOpen(c *Conn)
	// OnData delivers received text. data is valid only during the call
	// (it aliases the connection's receive buffer); copy what must be
	// kept. A wrapped receive buffer is delivered in two calls.
	OnData(c *Conn, data []byte)
	// OnEOF: the peer sent FIN (it will send no more, RFC 9293 §3.6)
	// after all its text was delivered. The connection can still Write;
	// it stays half-open until the handler calls Close or CloseWrite.
	OnEOF(c *Conn)
	// OnClose: the application's part of the connection is over: it
	// reached TIME-WAIT or CLOSED (err nil), or it was reset, timed out or
	// aborted (tcp.ErrConnectionReset, tcp.ErrTimeout, tcp.ErrAborted),
	// or its loop stopped (ErrLoopClosed). c must not be used afterwards.
	OnClose(c *Conn, err error)
}

// WritableHandler is an optional Handler extension: OnWritable runs when
// text Write held back (beyond the TCB's send buffer) has all gone into
// the send buffer, so a writer that waits for room (a blocking net.Conn
// adapter) knows when to continue.
type WritableHandler interface {
	OnWritable(c *Conn)
}

// Conn is a connection owned by a loop: the slab element the connection
// table points to. Its methods must be called on the loop's thread (from a
// callback, or from a function given to Loop.Post); from elsewhere use
// Loop.Post with the connection's Ref. After OnClose the slot may be
// freed and reused by a later connection: keep a Ref, not the *Conn,
// beyond that point (Loop.Conn resolves it or returns nil).
type Conn struct {
	tcb  *tcp.TCB
	loop *Loop
	h    Handler       // the loop's, or DialOptions.Handler
	lst  *tcp.Listener // until established: its accept queue is drained
	dial *dialRes      // a dialed connection's port reservation and flow
	// ext holds what few connections use: the application's timer and
	// per-connection options (nil until SetTimer or an option is set).
	ext *connExt
	// Context is free for the Handler (the public API keeps its own
	// per-connection object here).
	Context any

	// pending holds text Write accepted beyond the TCB's send buffer. It
	// is written to the TCB as ACKs free space; while it is non-empty no
	// more text is delivered (receive backpressure: the window closes).
	pending heldRef

	timer    TimerID     // the TCB's Deadline, armed in the wheel
	armedAt  tcp.Instant // deadline timer is armed for (tcp.Never: none)
	gen      uint32      // distinguishes incarnations of a slab index
	idx      uint32      // slab index
	key      ConnKey     // table key
	localMAC wire.MAC    // our MAC as the peer addressed it
	peerMAC  wire.MAC    // replies go where the flow's frames came from
	vlan     uint16
	hasVLAN  bool
	opened   bool // OnOpen was called
	eof      bool // OnEOF was called
	done     bool // OnClose was called
	dirty    bool // on the loop's dirty list
	// unpushed: Write queued text in the TCB without sending it; the
	// loop pushes it when it settles the connection (Loop.push).
	unpushed bool
	closeReq uint8
	closed   uint8 // the close level already applied to the TCB
	// readPaused: PauseRead stopped delivery; received text stays in the
	// TCB's receive buffer, so the advertised window closes.
	readPaused bool
	// resumed: ResumeRead asked process to deliver even without a TCB
	// event (the text and FIN have been waiting in the TCB).
	resumed  bool
	state    tcp.State // last state seen (Stats.Entered)
	sentAny  bool      // sndMax is set
	dialed   bool      // an active open (OnClose runs even without OnOpen)
	timedOut bool      // DialOptions.Timeout passed: OnClose says ErrTimeout
	// sndMax is the end of the highest sequence space sent (sentAny: set),
	// to count retransmissions at the sink.
	sndMax tcp.Seq
	// unread is the text of the delivery in progress that OnData has not
	// been given yet (still in the TCB): a Close from OnData takes it
	// first, so the close is not a reset for unread text. int32: it is
	// within one receive buffer (tcp.Config caps it at 1 GiB), and it
	// fills the padding after sndMax.
	unread int32
	openBy tcp.Instant // DialOptions.Timeout's instant (0: none)
	// timeWaitAt is when the connection entered TIME-WAIT (0: never).
	timeWaitAt tcp.Instant
}

// connExt is the part of a Conn that most connections never use, kept
// out of the slab element (an idle connection's memory): taken on the
// first SetTimer or option set, dropped when the connection finishes.
type connExt struct {
	// The application's timer (SetTimer, apptimer.go): appDue is when it
	// is due (0: not set), appArmed where its wheel entry appTimer sits,
	// which may be earlier (a later SetTimer only stores appDue).
	appTimer TimerID
	appDue   tcp.Instant
	appArmed tcp.Instant
	opt      optKey // options set on this connection (hasOpt: else the loop's)
	hasOpt   bool
}

// extPool keeps finished connections' connExts, so a server whose
// connections each set a timer (an idle timeout) does not allocate one
// per connection in steady state.
var extPool = sync.Pool{New: func() any { return new(connExt) }}

// extension returns c.ext, taking it on first use.
func (c *Conn) extension() *connExt {
	if c.ext == nil {
		c.ext = extPool.Get().(*connExt)
	}
	return c.ext
}

// dropExt gives c.ext back once the connection has finished.
func (c *Conn) dropExt() {
	if e := c.ext; e != nil {
		*e = connExt{}
		extPool.Put(e)
		c.ext = nil
	}
}

// heldRef is Conn.pending: a heldText taken on the first Write the send
// buffer cannot take whole (one pointer in the slab element, not the
// 32 octets of a heldText that most connections never fill), kept with
// its storage until the connection finishes, as heldText keeps its own.
type heldRef struct{ t *heldText }

func (r *heldRef) Len() int {
	if r.t == nil {
		return 0
	}
	return r.t.Len()
}

func (r *heldRef) Bytes() []byte {
	if r.t == nil {
		return nil
	}
	return r.t.Bytes()
}

func (r *heldRef) add(p []byte) {
	if r.t == nil {
		r.t = new(heldText)
	}
	r.t.add(p)
}

func (r *heldRef) advance(n int) {
	if r.t != nil {
		r.t.advance(n)
	}
}

func (r *heldRef) reset() {
	if r.t != nil {
		r.t.reset()
	}
}

func (r *heldRef) free() { r.t = nil }

const (
	closeNone  uint8 = iota
	closeWrite       // CloseWrite once pending text is in the TCB
	closeFull        // Close once pending text is in the TCB
)

// ConnRef names a connection across goroutines: a slab index and the
// incarnation it belonged to, so a ref kept past the connection's life
// never reaches a later connection in the same slot.
type ConnRef struct {
	Idx, Gen uint32
}

// Ref returns c's cross-goroutine name (see Loop.Conn).
func (c *Conn) Ref() ConnRef { return ConnRef{c.idx, c.gen} }

// Loop returns the loop that owns c.
func (c *Conn) Loop() *Loop { return c.loop }

// OnThread reports whether the caller runs on l's goroutine (a callback
// or a posted function), by the Owner token Run recorded: no system
// call, and false before Run and after it returns.
func (l *Loop) OnThread() bool { return l.onThread() }

// Key is the connection's 4-tuple (LocalAddr and RemoteAddr packed).
func (c *Conn) Key() ConnKey { return c.key }

// LocalAddr and RemoteAddr are the connection's endpoints.
func (c *Conn) LocalAddr() netip.AddrPort  { return c.key.Local() }
func (c *Conn) RemoteAddr() netip.AddrPort { return c.key.Remote() }

// State is the TCB's RFC 9293 state (CLOSED once freed).
func (c *Conn) State() tcp.State {
	if c.tcb == nil {
		return tcp.Closed
	}
	return c.tcb.State()
}

// TCB exposes the engine's control block (for stats and tests).
func (c *Conn) TCB() *tcp.TCB { return c.tcb }

// Buffered is how much text Write holds beyond the TCB's send buffer.
func (c *Conn) Buffered() int { return c.pending.Len() }

// Write queues p for sending and returns len(p): the TCB's send buffer
// takes what fits, the rest waits in a per-connection buffer that drains as
// the peer acknowledges (so only Write under backpressure allocates).
// Nothing is sent inside Write: the text is pushed when the loop settles
// the connection, after the callback (or posted function) returns, so
// several Writes and a Close in one callback leave in as few segments as
// the windows and the MSS allow, the FIN riding on the last. Segments go
// out with this iteration's TX flush.
func (c *Conn) Write(p []byte) (int, error) {
	if c.tcb == nil {
		return 0, tcp.ErrClosed // freed: used after OnClose
	}
	if c.done || c.closeReq != closeNone || c.tcb.State() == tcp.Closed {
		if err := c.tcb.Err(); err != nil {
			return 0, err
		}
		return 0, tcp.ErrClosed
	}
	if c.pending.Len() > 0 {
		c.pending.add(p)
		return len(p), nil
	}
	n, err := c.tcb.WriteMore(p)
	if err != nil {
		return n, err
	}
	c.unpushed = true
	c.loop.markDirty(c)
	if n < len(p) {
		c.pending.add(p[n:])
	}
	return len(p), nil
}

// CloseWrite half-closes: a FIN follows the text written so far
// (shutdown(SHUT_WR)); receiving goes on.
func (c *Conn) CloseWrite() error { return c.close(closeWrite) }

// Close is a full close: a FIN follows the text written so far and the
// handler gets no more data. As Linux does (RFC 2525 §2.17), text arriving
// after Close resets the connection.
func (c *Conn) Close() error { return c.close(closeFull) }

func (c *Conn) close(how uint8) error {
	if c.tcb == nil || c.done || c.tcb.State() == tcp.Closed {
		return tcp.ErrClosed
	}
	if how > c.closeReq {
		c.closeReq = how
	}
	if how == closeFull && c.unread > 0 {
		// Closed from OnData with the rest of the delivery unread: the
		// application read it and dropped it, as before this Close the
		// whole delivery was taken (no reset for unread text, RFC 2525
		// §2.17 applies to text the application never asked for).
		c.loop.consume(c, int(c.unread))
		c.unread = 0
	}
	c.loop.markDirty(c)
	if c.pending.Len() > 0 {
		return nil // after the pending text (drainPending)
	}
	return c.loop.applyClose(c)
}

// PauseRead stops delivery: until ResumeRead no more OnData (nor OnEOF)
// runs, and what arrives stays in the TCB's receive buffer, so the window
// advertised to the peer shrinks to zero and the peer is flow-controlled
// (RFC 9293 §3.8.6) instead of the application buffering without bound.
// Called from OnData, it takes effect when OnData returns: the rest of
// that delivery stays in the buffer. What the buffer holds when the
// connection ends in order while paused (both FINs exchanged) is still
// delivered, before OnClose, since its buffers go with it. Loop thread
// only; idempotent.
func (c *Conn) PauseRead() { c.readPaused = true }

// ResumeRead undoes PauseRead: the text the receive buffer holds, then the
// peer's FIN if one came, are delivered at this iteration's settle, and
// taking the text opens the window (TCB.Consume sends the window update,
// RFC 9293 §3.8.6.2.2). Loop thread only; idempotent.
func (c *Conn) ResumeRead() {
	if !c.readPaused {
		return
	}
	c.readPaused = false
	if c.tcb != nil && !c.done {
		c.resumed = true
		c.loop.markDirty(c)
	}
}

// ReadPaused reports whether PauseRead is in force.
func (c *Conn) ReadPaused() bool { return c.readPaused }

// Abort resets the connection (RFC 9293 §3.10.5 ABORT): a RST, then
// OnClose with tcp.ErrAborted.
func (c *Conn) Abort() {
	if c.tcb == nil || c.tcb.State() == tcp.Closed {
		return
	}
	l := c.loop
	c.pending.free()
	// Text written before the Abort leaves ahead of the RST, as it
	// would had Write sent it at once (Linux's write() then a linger-0
	// close()); held text beyond the send buffer is dropped.
	l.push(c)
	prev := l.enter(c)
	c.tcb.Abort(l.now)
	l.leave(prev)
	l.markDirty(c)
}
