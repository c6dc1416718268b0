package server

import (
	"sync"
	"time"

	"github.com/sluicenet/sluice"
	"github.com/sluicenet/sluice/examples/httpd/http1"
)

// Handler serves HTTP/1.1 on sluice's callback API: a connection with a
// request in progress holds a pooled Conn (its context), fed from OnData
// and continued from OnWritable; between requests it gives the Conn back.
// It implements sluice.ShutdownHandler: on Server.Shutdown an idle
// connection closes at once, a busy one after its responses.
type Handler struct {
	opts Options
	w    *http1.Writer
	pool sync.Pool
}

var (
	_ sluice.Handler         = (*Handler)(nil)
	_ sluice.ShutdownHandler = (*Handler)(nil)
)

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
		return c
	}
	return h
}

// Options returns the options in force, defaults applied.
func (h *Handler) Options() Options { return h.opts }

// NewConn returns a Conn ready for a new connection (from the pool); Put
// gives it back. For transports other than sluice's callbacks.
func (h *Handler) NewConn() *Conn { return h.pool.Get().(*Conn) }

// Put returns c to the pool once its connection is over.
func (h *Handler) Put(c *Conn) {
	c.Reset()
	h.pool.Put(c)
}

func (h *Handler) act(sc *sluice.Conn, c *Conn, a Action) sluice.Action {
	switch a {
	case Close:
		return sluice.Close
	case Abort:
		sc.Abort()
	case Linger:
		if sc.CloseWrite() != nil {
			return sluice.Close
		}
		// Bounded: close for good after LingerTimeout (from the timer's
		// goroutine, posted to the loop; after OnClose it is a no-op).
		// Only error paths linger, so this allocation is not per request.
		c.lingerTimer = time.AfterFunc(LingerTimeout, func() { sc.Close() })
	}
	return sluice.None
}

// conn is sc's Conn, taken from the pool when sc has none: an idle
// keep-alive connection gives its Conn back (idle), so it costs httpd
// nothing while it waits for its next request.
func (h *Handler) conn(sc *sluice.Conn) *Conn {
	if c, ok := sc.Context().(*Conn); ok {
		return c
	}
	c := h.NewConn()
	sc.SetContext(c)
	return c
}

// idle returns c to the pool when its connection is between requests
// with nothing to send or parse, and the connection carries on.
func (h *Handler) idle(sc *sluice.Conn, c *Conn, a sluice.Action) sluice.Action {
	if a == sluice.None && c.Idle() {
		sc.SetContext(nil)
		h.Put(c)
	}
	return a
}

func (h *Handler) OnOpen(sc *sluice.Conn) sluice.Action { return sluice.None }

func (h *Handler) OnData(sc *sluice.Conn, data []byte) sluice.Action {
	c := h.conn(sc)
	return h.idle(sc, c, h.act(sc, c, c.OnData(sc, data)))
}

func (h *Handler) OnWritable(sc *sluice.Conn) sluice.Action {
	c, ok := sc.Context().(*Conn)
	if !ok {
		return sluice.None
	}
	return h.idle(sc, c, h.act(sc, c, c.OnWritable(sc)))
}

// OnEOF: the peer sent its FIN. With nothing in progress, close; else
// finish the responses first (the peer may have half-closed).
func (h *Handler) OnEOF(sc *sluice.Conn) sluice.Action {
	c, ok := sc.Context().(*Conn)
	if !ok {
		return sluice.Close
	}
	return h.act(sc, c, c.OnEOF(sc))
}

// OnShutdown: Server.Shutdown. An idle connection closes now, a busy one
// once its responses are written.
func (h *Handler) OnShutdown(sc *sluice.Conn) sluice.Action {
	c, ok := sc.Context().(*Conn)
	if !ok {
		return sluice.Close
	}
	return h.act(sc, c, c.OnShutdown(sc))
}

func (h *Handler) OnClose(sc *sluice.Conn, err error) {
	if c, ok := sc.Context().(*Conn); ok {
		if c.lingerTimer != nil {
			c.lingerTimer.Stop()
			c.lingerTimer = nil
		}
		sc.SetContext(nil)
		h.Put(c)
	}
}
