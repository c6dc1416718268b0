package server

import (
	"time"

	"github.com/sluicenet/sluice/examples/httpd/http1"
)

// Timeouts bound how long a connection may wait for each thing; zero
// fields take the defaults, a negative one turns that timeout off.
// nginx's names and defaults are the model (client_header_timeout,
// client_body_timeout, send_timeout 60 s; keepalive_timeout 75 s), with
// the head bound tightened as Apache's mod_reqtimeout does (20 s): a
// request head is a few hundred octets, and a client that takes longer
// to send one is broken or hostile (slowloris).
type Timeouts struct {
	// Head bounds a request head, from its first octet to the end of its
	// fields (absolute, not reset by progress: a byte every few seconds
	// must not keep it alive), and a new connection's wait for its first
	// request. On expiry: 408, then close [DefaultHeadTimeout].
	Head time.Duration
	// Body bounds the wait for more of a request body (reset by every
	// octet that arrives). On expiry: 408, then close [DefaultBodyTimeout].
	Body time.Duration
	// Idle bounds a keep-alive connection between requests, from the
	// moment the last response entered TCP's send buffer (as nginx's
	// keepalive_timeout). On expiry the connection closes with no
	// response (RFC 9112 §9.5): a FIN after what is still in the send
	// buffer, so a response is never cut [DefaultIdleTimeout].
	Idle time.Duration
	// Write bounds the wait for a client to take more of a response
	// (reset whenever the part held beyond the send buffer drains). On
	// expiry the connection is reset: no response can reach a client
	// that does not read [DefaultWriteTimeout].
	Write time.Duration
}

const (
	DefaultHeadTimeout  = 20 * time.Second
	DefaultBodyTimeout  = 60 * time.Second
	DefaultIdleTimeout  = 75 * time.Second
	DefaultWriteTimeout = 60 * time.Second
)

func (t Timeouts) withDefaults() Timeouts {
	def := func(d *time.Duration, v time.Duration) {
		switch {
		case *d == 0:
			*d = v
		case *d < 0:
			*d = 0 // off
		}
	}
	def(&t.Head, DefaultHeadTimeout)
	def(&t.Body, DefaultBodyTimeout)
	def(&t.Idle, DefaultIdleTimeout)
	def(&t.Write, DefaultWriteTimeout)
	return t
}

// Phase is what a connection waits for, which decides its timeout.
type Phase uint8

const (
	phaseNone   Phase = iota // not seen yet (a Conn fresh from the pool)
	PhaseIdle                // between requests, nothing to send
	PhaseHead                // a request head has begun
	PhaseBody                // more of a request body
	PhaseWrite               // the client to read: output is held beyond the send buffer
	PhaseLinger              // the client's FIN, in a lingering close
)

func (p Phase) String() string {
	return [...]string{"none", "idle", "head", "body", "write", "linger"}[p]
}

// timeout is the bound of phase p.
func (t *Timeouts) of(p Phase) time.Duration {
	switch p {
	case PhaseIdle:
		return t.Idle
	case PhaseHead:
		return t.Head
	case PhaseBody:
		return t.Body
	case PhaseWrite:
		return t.Write
	case PhaseLinger:
		return LingerTimeout
	}
	return 0
}

// Phase is what c waits for now, with t its transport.
func (c *Conn) Phase(t Transport) Phase {
	switch {
	case c.lingering:
		return PhaseLinger
	case t.Buffered() > 0 || c.gate != nil && c.gate.waiting:
		// Output held beyond the send buffer, or lent body pieces at
		// their bound (lend.go): either way the client must read.
		return PhaseWrite
	case c.inBody:
		return PhaseBody
	case !c.p.Idle():
		return PhaseHead
	}
	return PhaseIdle
}

// Event is what a connection's callback was, for Rearm.
type Event uint8

const (
	EvOther    Event = iota
	EvData           // octets arrived
	EvWritable       // output held beyond the send buffer drained
)

// Rearm reports whether c's timer must be set again after an event, and
// to which phase's bound: when the phase changed, or on progress within
// a phase whose bound counts from the last progress (body octets
// arrived, held output drained).
func (c *Conn) Rearm(t Transport, ev Event) (Phase, bool) {
	ph := c.Phase(t)
	changed := ph != c.phase
	c.phase = ph
	return ph, changed || (ev == EvData && ph == PhaseBody) || (ev == EvWritable && ph == PhaseWrite)
}

// OnTimeout: the bound of c's phase has passed. A request head or body
// that is late gets 408 (after the responses before it) and the
// connection closes, lingering; a client that does not read is reset;
// an idle or lingering connection closes. It reports the phase that
// timed out.
func (c *Conn) OnTimeout(t Transport) (Action, Phase) {
	ph := c.Phase(t)
	switch ph {
	case PhaseWrite:
		return Abort, ph
	case PhaseHead, PhaseBody:
		if c.qLen >= QueueLen {
			return Abort, ph // not reached: the queue is empty unless output is held
		}
		c.w.SetTime(c.cfg.Now())
		c.push(response{kind: kindError, status: 408, conn: http1.ConnClose})
		c.stopped, c.mayLinger, c.inBody = true, true, false
		c.held, c.in = false, c.in[:0]
		return c.drive(t), ph
	}
	return Close, ph
}
