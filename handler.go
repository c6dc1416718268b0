package sluice

import "time"

// Action is what a callback asks of the server when it returns (gnet's
// convention): nothing, close this connection, or shut the server down.
type Action int

const (
	// None: carry on.
	None Action = iota
	// Close closes the connection gracefully, as Conn.Close: a FIN after
	// what was written.
	Close
	// Shutdown starts the server's graceful shutdown (Server.Shutdown,
	// bounded by Config.ShutdownTimeout). The connection itself is then
	// treated as every other one.
	Shutdown
)

func (a Action) String() string {
	switch a {
	case None:
		return "None"
	case Close:
		return "Close"
	case Shutdown:
		return "Shutdown"
	}
	return "Action(?)"
}

// Handler is the application of a callback server. Each connection
// belongs to one event loop; its callbacks run on that loop's thread, one
// at a time, in the order OnOpen, OnData/OnWritable/OnEOF/OnTimeout...,
// OnClose (OnTimeout: TimeoutHandler, after Conn.SetTimeout).
// Callbacks of connections on different loops run concurrently, so state
// shared between connections needs a lock (state of one connection,
// kept with Conn.SetContext, does not).
//
// Callbacks must not block: while one runs, its loop serves no other
// connection. Hand slow work to a goroutine, which may then Write and
// Close the Conn (those calls are posted to the loop). A callback may
// open a connection with Server.DialHandler, which there returns at once
// and reports the handshake through the new connection's callbacks.
//
// Embed NopHandler to implement only the callbacks needed.
type Handler interface {
	// OnOpen: a connection was established (accepted, or a Dial
	// completed).
	OnOpen(c *Conn) Action
	// OnData delivers received bytes, in order. data is valid only
	// during the call: it aliases the connection's receive buffer, which
	// the next segment overwrites. Copy what must outlive the call.
	OnData(c *Conn, data []byte) Action
	// OnWritable: what Write had to hold beyond the send buffer has all
	// gone into it (backpressure cleared, Conn.Buffered is 0).
	OnWritable(c *Conn) Action
	// OnEOF: the peer has finished sending (its FIN arrived after all its
	// data). The connection can still send: return None to keep writing
	// and close later, Close to close now (NopHandler's choice).
	OnEOF(c *Conn) Action
	// OnClose: the connection is over and c must not be used after the
	// call. err is nil when this side closed first and the close
	// completed in order, else the reason: ErrPeerClosed, ErrReset,
	// ErrTimeout, ErrAborted, ErrRefused (a Dial), ErrServerClosed.
	OnClose(c *Conn, err error)
}

// NopHandler implements every Handler callback by doing nothing (OnEOF
// closes the connection). Embed it and override what is needed:
//
//	type echo struct{ sluice.NopHandler }
//
//	func (echo) OnData(c *sluice.Conn, b []byte) sluice.Action { c.Write(b); return sluice.None }
type NopHandler struct{}

func (NopHandler) OnOpen(*Conn) Action         { return None }
func (NopHandler) OnData(*Conn, []byte) Action { return None }
func (NopHandler) OnWritable(*Conn) Action     { return None }
func (NopHandler) OnEOF(*Conn) Action          { return Close }
func (NopHandler) OnClose(*Conn, error)        {}

// HandlerFuncs is a Handler made of functions; nil ones behave as
// NopHandler's.
type HandlerFuncs struct {
	Open     func(c *Conn) Action
	Data     func(c *Conn, data []byte) Action
	Writable func(c *Conn) Action
	EOF      func(c *Conn) Action
	Closed   func(c *Conn, err error)
	// Timeout is TimeoutHandler's OnTimeout (nil: Close).
	Timeout func(c *Conn) Action
	// Tick is TickHandler's OnTick (nil: no ticks).
	Tick func(loop int) (time.Duration, Action)
}

func (h HandlerFuncs) OnOpen(c *Conn) Action {
	if h.Open == nil {
		return None
	}
	return h.Open(c)
}

func (h HandlerFuncs) OnData(c *Conn, data []byte) Action {
	if h.Data == nil {
		return None
	}
	return h.Data(c, data)
}

func (h HandlerFuncs) OnWritable(c *Conn) Action {
	if h.Writable == nil {
		return None
	}
	return h.Writable(c)
}

func (h HandlerFuncs) OnEOF(c *Conn) Action {
	if h.EOF == nil {
		return Close
	}
	return h.EOF(c)
}

func (h HandlerFuncs) OnClose(c *Conn, err error) {
	if h.Closed != nil {
		h.Closed(c, err)
	}
}

func (h HandlerFuncs) OnTimeout(c *Conn) Action {
	if h.Timeout == nil {
		return Close
	}
	return h.Timeout(c)
}

func (h HandlerFuncs) OnTick(loop int) (time.Duration, Action) {
	if h.Tick == nil {
		return 0, None
	}
	return h.Tick(loop)
}

// ShutdownHandler is an optional Handler extension: during
// Server.Shutdown, OnShutdown is called on each open connection (on its
// loop) instead of closing it at once, so a protocol can finish what is in
// flight: return Close to close now (e.g. an idle keep-alive connection),
// None to close it later yourself (e.g. after the response being
// written). Connections still open at Shutdown's deadline are reset.
type ShutdownHandler interface {
	OnShutdown(c *Conn) Action
}

// TimeoutHandler is an optional Handler extension: OnTimeout runs on the
// connection's loop when the time Conn.SetTimeout set has passed (a
// Handler without it has the connection closed, as by returning Close).
// Return Close to close (a FIN after what was written; Conn.Abort for a
// RST), None to keep the connection (SetTimeout again for another
// expiry), Shutdown to shut the server down.
//
// Order: OnTimeout runs between the connection's other callbacks, after
// OnOpen and never after OnClose (the timer ends with the connection).
// In a loop iteration received segments are handled before timers, so
// data that reached the loop by the time the timeout is due is delivered
// first, and a SetTimeout from that OnData wins. The timer keeps running
// after Close until OnClose, so it can bound a close that does not
// complete (a peer that never reads), e.g. with Abort. During
// Server.Shutdown timers go on firing until the connection ends; at
// Server.Close every connection gets OnClose and no timer fires after it.
type TimeoutHandler interface {
	OnTimeout(c *Conn) Action
}

// TickHandler is an optional Handler extension for per-loop housekeeping
// (gnet's OnTick, once per loop): OnTick runs on each loop's thread, as
// a callback among that loop's connections' (so per-loop state indexed
// by loop needs no lock), first at the loop's start, then after the
// delay it returns (rounded up to the loop's 1 ms timer tick). A delay
// <= 0 ends the ticks of that loop. loop is the loop's index,
// 0..Info().Loops-1. The Action may be None or Shutdown. Ticks go on
// during Server.Shutdown and stop when the loops stop.
type TickHandler interface {
	OnTick(loop int) (delay time.Duration, a Action)
}
