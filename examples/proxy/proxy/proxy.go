package proxy

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/sluicenet/sluice"
)

// DefaultDialTimeout bounds the upstream's handshake.
const DefaultDialTimeout = 5 * time.Second

// Handler is the proxy on sluice's callback API: for each accepted
// connection it dials Upstream and relays bytes both ways. It must be
// given its server (SetServer) before the server starts.
type Handler struct {
	upstream    string
	dialTimeout time.Duration
	srv         atomic.Pointer[sluice.Server]
	stats       Stats
}

var (
	_ sluice.Handler         = (*Handler)(nil)
	_ sluice.ShutdownHandler = (*Handler)(nil)
	_ sluice.ShutdownHandler = (*upstream)(nil)
)

// Stats count what the proxy did.
type Stats struct {
	Accepted   atomic.Int64 // client connections
	Dialed     atomic.Int64 // upstream connections established
	DialErrors atomic.Int64 // upstream dials that failed (the client is reset)
	Pauses     atomic.Int64 // reads paused because the other side was not keeping up
	Aborts     atomic.Int64 // pairs reset (a reset on one side, or a failed Write)
}

// NewHandler proxies to upstream ("host:port"), each handshake bounded by
// dialTimeout (DefaultDialTimeout if zero).
func NewHandler(upstream string, dialTimeout time.Duration) *Handler {
	if dialTimeout <= 0 {
		dialTimeout = DefaultDialTimeout
	}
	return &Handler{upstream: upstream, dialTimeout: dialTimeout}
}

// SetServer gives h the server it dials from.
func (h *Handler) SetServer(s *sluice.Server) { h.srv.Store(s) }

// Stats are h's counters.
func (h *Handler) Stats() *Stats { return &h.stats }

// pair is one proxied connection: the client's and the upstream's, on
// one loop (the upstream is dialed from the client's callback), so every
// field is touched by that loop's thread only.
type pair struct {
	h      *Handler
	client *sluice.Conn
	up     *sluice.Conn // set when the dial starts (SYN-SENT)
	opened bool         // the upstream's OnOpen ran
}

// upstream is the pair seen from the upstream connection's callbacks.
type upstream pair

func (h *Handler) OnOpen(c *sluice.Conn) sluice.Action {
	h.stats.Accepted.Add(1)
	p := &pair{h: h, client: c}
	c.SetContext(p)
	// Nothing is read from the client until the upstream is there: its
	// bytes wait in the receive buffer, and its window closes if it
	// sends much.
	c.PauseRead()
	srv := h.srv.Load()
	if srv == nil {
		h.stats.DialErrors.Add(1)
		c.Abort()
		return sluice.None
	}
	// From this callback DialHandler returns at once, the upstream in
	// SYN-SENT on this loop; the outcome comes to upstream's OnOpen or
	// OnClose. ctx's deadline bounds the handshake; the timer behind it
	// is released with the dial.
	ctx, cancel := context.WithTimeout(context.Background(), h.dialTimeout)
	up, err := srv.DialHandler(ctx, "tcp", h.upstream, (*upstream)(p))
	cancel()
	if err != nil {
		h.stats.DialErrors.Add(1)
		c.Abort()
		return sluice.None
	}
	p.up = up
	return sluice.None
}

func pairOf(c *sluice.Conn) *pair {
	p, _ := c.Context().(*pair)
	return p
}

func (h *Handler) OnData(c *sluice.Conn, data []byte) sluice.Action {
	p := pairOf(c)
	return p.relay(c, p.up, data)
}

// OnWritable: the client took what was held for it; read the upstream
// again.
func (h *Handler) OnWritable(c *sluice.Conn) sluice.Action {
	if p := pairOf(c); p.opened {
		p.up.ResumeRead()
	}
	return sluice.None
}

// OnEOF: the client has sent everything; pass its FIN on and keep
// sending it the upstream's answer.
func (h *Handler) OnEOF(c *sluice.Conn) sluice.Action {
	if p := pairOf(c); p.opened {
		p.up.CloseWrite()
	}
	return sluice.None
}

// OnShutdown lets a pair finish: an L4 proxy cannot tell an idle moment
// of the protocol inside, so a FIN to the client could cut a response.
// Pairs still open at Shutdown's deadline are reset.
func (h *Handler) OnShutdown(c *sluice.Conn) sluice.Action { return sluice.None }

func (h *Handler) OnClose(c *sluice.Conn, err error) {
	p := pairOf(c)
	c.SetContext(nil)
	if p == nil {
		return
	}
	// Before the upstream opened, this drops its handshake (its OnClose
	// follows, without OnOpen).
	p.closeOther(p.up, err)
}

// relay writes what from received to to, and pauses from while to holds
// data beyond its send buffer (until to's OnWritable): memory per pair
// stays at the two send buffers plus one read, whatever the sizes.
func (p *pair) relay(from, to *sluice.Conn, data []byte) sluice.Action {
	if !p.opened {
		return sluice.None // not reached: the client is paused until then
	}
	if _, err := to.Write(data); err != nil {
		// ErrWriteQueueFull cannot happen while from pauses at the first
		// held octet (the queue limit is far above one read); any error
		// means the pair cannot carry on without losing data.
		p.h.stats.Aborts.Add(1)
		to.Abort()
		from.Abort()
		return sluice.None
	}
	if to.Buffered() > 0 {
		p.h.stats.Pauses.Add(1)
		from.PauseRead()
	}
	return sluice.None
}

// closeOther ends other once its partner closed with err: in order (a
// FIN after what was written) when the partner closed in order, else
// with a reset.
func (p *pair) closeOther(other *sluice.Conn, err error) {
	if other == nil {
		return
	}
	if err == nil || errors.Is(err, sluice.ErrPeerClosed) {
		other.Close()
		return
	}
	p.h.stats.Aborts.Add(1)
	other.Abort()
}

// The upstream connection's callbacks.

func (u *upstream) OnOpen(c *sluice.Conn) sluice.Action {
	p := (*pair)(u)
	p.opened = true
	p.h.stats.Dialed.Add(1)
	if p.client.ResumeRead() != nil {
		return sluice.Close // the client has gone meanwhile
	}
	return sluice.None
}

func (u *upstream) OnData(c *sluice.Conn, data []byte) sluice.Action {
	p := (*pair)(u)
	return p.relay(c, p.client, data)
}

func (u *upstream) OnWritable(c *sluice.Conn) sluice.Action {
	(*pair)(u).client.ResumeRead()
	return sluice.None
}

func (u *upstream) OnEOF(c *sluice.Conn) sluice.Action {
	(*pair)(u).client.CloseWrite()
	return sluice.None
}

// OnShutdown: the upstream side of a pair also finishes on its own
// (without it, Shutdown would FIN the upstream, or drop a pending dial,
// under a client still being served).
func (u *upstream) OnShutdown(c *sluice.Conn) sluice.Action { return sluice.None }

func (u *upstream) OnClose(c *sluice.Conn, err error) {
	p := (*pair)(u)
	if !p.opened {
		// The dial failed (refused, timed out) or the client's close
		// dropped it: reset the client (a no-op once it is closed).
		if p.client.Abort() == nil {
			p.h.stats.DialErrors.Add(1)
		}
		return
	}
	p.closeOther(p.client, err)
}
