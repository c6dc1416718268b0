package server

import (
	"sync"
	"sync/atomic"

	"github.com/sluicenet/sluice"
	"github.com/sluicenet/sluice/examples/httpd/http1"
)

// Handler serves HTTP/1.1 on sluice's callback API: a connection with a
// request in progress holds a pooled Conn (its context), fed from OnData
// and continued from OnWritable; between requests it gives the Conn back.
// It implements sluice.ShutdownHandler: on Server.Shutdown an idle
// connection closes at once, a busy one after its responses; and
// sluice.TimeoutHandler: the connection's one timer is set to the bound
// of what it waits for (Options.Timeouts).
type Handler struct {
	opts    Options
	w       *http1.Writer
	pool    sync.Pool
	stats   Stats
	sources *sources // nil without Options.MaxConnsPerSource
	refusal []byte   // the 503 of a connection over its source's bound
}

var (
	_ sluice.Handler         = (*Handler)(nil)
	_ sluice.ShutdownHandler = (*Handler)(nil)
	_ sluice.TimeoutHandler  = (*Handler)(nil)
)

// Stats count the connections the Handler ended early, by reason.
type Stats struct {
	HeadTimeouts   atomic.Uint64 // 408: a request head not complete within Timeouts.Head
	BodyTimeouts   atomic.Uint64 // 408: no body octet within Timeouts.Body
	IdleTimeouts   atomic.Uint64 // closed: idle (or no first request) for Timeouts.Idle (Head)
	WriteTimeouts  atomic.Uint64 // reset: the client took no output for Timeouts.Write
	LingerTimeouts atomic.Uint64 // closed: a lingering close ran its LingerTimeout
	SourceLimited  atomic.Uint64 // 503: over Options.MaxConnsPerSource
}

// refused marks a connection answered 503 for its source's bound: it is
// not counted against the source, and what it sends is dropped.
type refused struct{}

// NewHandler returns a Handler answering with opts.
func NewHandler(opts Options) *Handler {
	h := &Handler{opts: opts.withDefaults()}
	name := h.opts.ServerName
	if name == "-" {
		name = ""
	}
	h.w = http1.NewWriter(name)
	h.pool.New = func() any {
		c := new(Conn)
		c.Init(&h.opts, h.w)
		c.wake = h.wakeLent
		return c
	}
	if h.opts.MaxConnsPerSource > 0 {
		h.sources = newSources(h.opts.MaxConnsPerSource)
		h.refusal = h.w.AppendError(nil, 503)
	}
	return h
}

// Options returns the options in force, defaults applied.
func (h *Handler) Options() Options { return h.opts }

// Stats are h's counters.
func (h *Handler) Stats() *Stats { return &h.stats }

// NewConn returns a Conn ready for a new connection (from the pool); Put
// gives it back. For transports other than sluice's callbacks.
func (h *Handler) NewConn() *Conn { return h.pool.Get().(*Conn) }

// Put returns c to the pool once its connection is over.
func (h *Handler) Put(c *Conn) {
	c.Reset()
	h.pool.Put(c)
}

func (h *Handler) act(sc *sluice.Conn, a Action) sluice.Action {
	switch a {
	case Close:
		return sluice.Close
	case Abort:
		sc.Abort()
	case Linger:
		// Bounded by the connection's timer (PhaseLinger).
		if sc.CloseWrite() != nil {
			return sluice.Close
		}
	}
	return sluice.None
}

// conn is sc's Conn, taken from the pool when sc has none: an idle
// keep-alive connection gives its Conn back (idle), so it costs httpd
// nothing while it waits for its next request. Nil for a refused one.
func (h *Handler) conn(sc *sluice.Conn) *Conn {
	switch x := sc.Context().(type) {
	case *Conn:
		return x
	case refused:
		return nil
	}
	c := h.NewConn()
	sc.SetContext(c)
	return c
}

// settle sets sc's timer for what c now waits for (when that changed, or
// on progress), then returns c to the pool if it is between requests
// with nothing to send or parse, and the connection carries on.
func (h *Handler) settle(sc *sluice.Conn, c *Conn, a sluice.Action, ev Event) sluice.Action {
	if ph, re := c.Rearm(sc, ev); re {
		sc.SetTimeout(h.opts.Timeouts.of(ph))
	}
	if a == sluice.None && c.Idle() {
		sc.SetContext(nil)
		h.Put(c)
	}
	return a
}

// OnOpen: a new connection must begin its first request within the head
// timeout (nginx's client_header_timeout); over its source's bound it is
// answered 503 and closed.
func (h *Handler) OnOpen(sc *sluice.Conn) sluice.Action {
	if h.sources != nil && !h.sources.add(sc.RemoteAddr().Addr()) {
		h.stats.SourceLimited.Add(1)
		sc.SetContext(refused{})
		sc.Write(h.refusal)
		return sluice.Close
	}
	sc.SetTimeout(h.opts.Timeouts.Head)
	return sluice.None
}

func (h *Handler) OnData(sc *sluice.Conn, data []byte) sluice.Action {
	c := h.conn(sc)
	if c == nil {
		return sluice.None
	}
	return h.settle(sc, c, h.act(sc, c.OnData(sc, data)), EvData)
}

// wakeLent continues a connection that stopped at its bound of lent
// body octets, once the transport released some (outside any callback:
// the action is applied here).
func (h *Handler) wakeLent(l Lender) {
	sc, ok := l.(*sluice.Conn)
	if !ok {
		return
	}
	if h.OnWritable(sc) == sluice.Close {
		sc.Close()
	}
}

func (h *Handler) OnWritable(sc *sluice.Conn) sluice.Action {
	switch c := sc.Context().(type) {
	case *Conn:
		return h.settle(sc, c, h.act(sc, c.OnWritable(sc)), EvWritable)
	case nil:
		// Between requests, the last response's tail held beyond the
		// send buffer has gone into it: idle from now.
		sc.SetTimeout(h.opts.Timeouts.Idle)
	}
	return sluice.None
}

// OnEOF: the peer sent its FIN. With nothing in progress, close; else
// finish the responses first (the peer may have half-closed).
func (h *Handler) OnEOF(sc *sluice.Conn) sluice.Action {
	c, ok := sc.Context().(*Conn)
	if !ok {
		return sluice.Close
	}
	return h.settle(sc, c, h.act(sc, c.OnEOF(sc)), EvOther)
}

// OnShutdown: Server.Shutdown. An idle connection closes now, a busy one
// once its responses are written.
func (h *Handler) OnShutdown(sc *sluice.Conn) sluice.Action {
	c, ok := sc.Context().(*Conn)
	if !ok {
		return sluice.Close
	}
	return h.settle(sc, c, h.act(sc, c.OnShutdown(sc)), EvOther)
}

// OnTimeout: the bound of what the connection waited for has passed.
func (h *Handler) OnTimeout(sc *sluice.Conn) sluice.Action {
	c, ok := sc.Context().(*Conn)
	if !ok {
		if sc.Buffered() > 0 {
			// Between requests, the last response's tail not taken.
			h.stats.WriteTimeouts.Add(1)
			sc.Abort()
			return sluice.None
		}
		h.stats.IdleTimeouts.Add(1)
		return sluice.Close
	}
	a, ph := c.OnTimeout(sc)
	switch ph {
	case PhaseHead:
		h.stats.HeadTimeouts.Add(1)
	case PhaseBody:
		h.stats.BodyTimeouts.Add(1)
	case PhaseWrite:
		h.stats.WriteTimeouts.Add(1)
	case PhaseLinger:
		h.stats.LingerTimeouts.Add(1)
	default:
		h.stats.IdleTimeouts.Add(1)
	}
	return h.settle(sc, c, h.act(sc, a), EvOther)
}

func (h *Handler) OnClose(sc *sluice.Conn, err error) {
	switch x := sc.Context().(type) {
	case refused:
		return
	case *Conn:
		sc.SetContext(nil)
		h.Put(x)
	}
	if h.sources != nil {
		h.sources.remove(sc.RemoteAddr().Addr())
	}
}
