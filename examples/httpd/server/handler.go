package server

import (
	"sync"

	"github.com/sluicenet/sluice"
	"github.com/sluicenet/sluice/examples/httpd/http1"
)

// Handler serves HTTP/1.1 on sluice's callback API: each connection gets
// a pooled Conn (its context), fed from OnData and continued from
// OnWritable. It implements sluice.ShutdownHandler: on Server.Shutdown an
// idle connection closes at once, a busy one after its responses.
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

func act(sc *sluice.Conn, a Action) sluice.Action {
	switch a {
	case Close:
		return sluice.Close
	case Abort:
		sc.Abort()
	}
	return sluice.None
}

func conn(sc *sluice.Conn) *Conn {
	c, _ := sc.Context().(*Conn)
	return c
}

func (h *Handler) OnOpen(sc *sluice.Conn) sluice.Action {
	sc.SetContext(h.NewConn())
	return sluice.None
}

func (h *Handler) OnData(sc *sluice.Conn, data []byte) sluice.Action {
	if c := conn(sc); c != nil {
		return act(sc, c.OnData(sc, data))
	}
	return sluice.Close
}

func (h *Handler) OnWritable(sc *sluice.Conn) sluice.Action {
	if c := conn(sc); c != nil {
		return act(sc, c.OnWritable(sc))
	}
	return sluice.None
}

func (h *Handler) OnEOF(sc *sluice.Conn) sluice.Action {
	if c := conn(sc); c != nil {
		return act(sc, c.OnEOF(sc))
	}
	return sluice.Close
}

func (h *Handler) OnShutdown(sc *sluice.Conn) sluice.Action {
	if c := conn(sc); c != nil {
		return act(sc, c.OnShutdown(sc))
	}
	return sluice.Close
}

func (h *Handler) OnClose(sc *sluice.Conn, err error) {
	if c := conn(sc); c != nil {
		sc.SetContext(nil)
		h.Put(c)
	}
}
