package server

import (
	"time"

	"github.com/sluicenet/sluice/examples/httpd/http1"
)

// Action is what a Conn asks of its transport after a call.
type Action uint8

const (
	// None: carry on.
	None Action = iota
	// Close: close gracefully, a FIN after everything written.
	Close
	// Abort: reset the connection (the client overran what the server
	// holds for it).
	Abort
	// Linger: half-close (a FIN after everything written) and go on
	// reading, dropping what arrives, until the peer closes (OnEOF then
	// returns Close) or LingerTimeout passes (the transport then closes).
	// RFC 9112 §9.6: closing at once while the client still sends would
	// reset the connection, and a reset can destroy the response before
	// the client reads it (or, on loss, before it is retransmitted).
	Linger
)

const (
	// LingerTimeout bounds a lingering close (Apache's is 2 s).
	LingerTimeout = 2 * time.Second
	// maxLinger bounds what a lingering close reads and drops; past it the
	// connection is closed (and so reset if the client keeps sending).
	maxLinger = 4 << 20
)

// Transport is where a Conn writes: a *sluice.Conn, or a buffer in tests.
// Write must take all of p (or fail) and may keep it only as a copy; a
// Transport that is also a Lender is lent large bodies instead (lend.go).
// Buffered is how much was written but is held beyond the transport's send
// buffer: the Conn writes more of a large body only while it is 0, and the
// transport calls OnWritable once it falls back to 0.
type Transport interface {
	Write(p []byte) (int, error)
	Buffered() int
}

// Options configure the responses and limits of every connection.
type Options struct {
	// Size is the body length of "/" [DefaultSize].
	Size int64
	// MaxSize bounds N in /size/N [DefaultMaxSize].
	MaxSize int64
	// Limits bound what the parser holds per request (http1.DefaultLimits
	// for zero fields).
	Limits http1.Limits
	// ServerName is the Server field's value ["sluice-httpd"]; "-" sends none.
	ServerName string
	// Now is the clock for the Date field [time.Now].
	Now func() time.Time
	// Health is what HealthPath reports [a new Health, always up]; New
	// shares one between the server and its handler, and Shutdown sets
	// it down.
	Health *Health
	// Timeouts bound each wait of a connection (defaults in Timeouts).
	Timeouts Timeouts
	// MaxConnsPerSource bounds the open connections from one client
	// address (nginx's limit_conn by $binary_remote_addr); beyond it a
	// new connection gets 503 and is closed. 0: no bound.
	MaxConnsPerSource int
}

const (
	DefaultSize    = 13
	DefaultMaxSize = 1 << 30
	// QueueLen is how many responses a connection holds parsed ahead of
	// the one being written.
	QueueLen = 16
	// SmallBody is the largest body copied into the batch of heads; larger
	// bodies are streamed with backpressure.
	SmallBody = 16 << 10
	// maxOut is the batch size at which heads are written out early.
	maxOut = 64 << 10
)

func (o Options) withDefaults() Options {
	if o.Size == 0 {
		o.Size = DefaultSize
	}
	if o.Size < 0 {
		o.Size = 0
	}
	if o.MaxSize <= 0 {
		o.MaxSize = DefaultMaxSize
	}
	if o.ServerName == "" {
		o.ServerName = "sluice-httpd"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Health == nil {
		o.Health = new(Health)
	}
	o.Timeouts = o.Timeouts.withDefaults()
	return o
}

// response is one queued answer.
type response struct {
	kind   kind
	status uint16
	conn   http1.Connection
	noBody bool   // HEAD: the head a GET gets, no body (RFC 9110 §9.3.2)
	size   int64  // kindPattern: body length
	text   []byte // kindText: body
}

// Conn is one connection's HTTP state: the parser, the responses parsed
// but not yet fully written, and input held back while they are.
type Conn struct {
	cfg *Options
	p   http1.Parser
	w   http1.Writer

	q     [QueueLen]response
	qHead int
	qLen  int
	// headOut: the head of q[qHead] is written (into out or the
	// transport); sent counts its body octets written.
	headOut bool
	sent    int64

	cur  response // the request being parsed (routed at EvHead)
	out  []byte   // heads and small bodies batched into one Write
	in   []byte   // input not parsed yet: the queue was full
	held bool     // the parser may hold an event not taken: the queue was full

	stopped bool // parse nothing more: an error or a non-persistent request
	eof     bool // the peer half-closed
	// mayLinger: the client may still be sending when we close (an error
	// response, or bytes after the last request), so close by Linger.
	mayLinger bool
	lingering bool
	dropped   int  // octets read and dropped while lingering
	draining  bool // server shutdown: close once idle
	maxIn     int
	inBody    bool  // the request being parsed has a body still to come
	phase     Phase // what the connection waited for when last seen (timeout.go)
	// gate counts body pieces lent to a Lender transport (lend.go);
	// wake continues the output when one comes back (set by Handler).
	gate *lendGate
	wake func(Lender)
}

// Init prepares c for connections served with cfg (which must not change
// afterwards) and w's Server field.
func (c *Conn) Init(cfg *Options, w *http1.Writer) {
	c.cfg = cfg
	c.p.Init(cfg.Limits)
	c.w = *w
	c.maxIn = c.p.Limits().MaxHeaderBytes + maxPiece
	c.Reset()
}

// Reset readies c for a new connection, keeping its buffers.
func (c *Conn) Reset() {
	c.p.Reset()
	c.qHead, c.qLen = 0, 0
	c.headOut, c.sent = false, 0
	c.cur = response{}
	c.out = c.out[:0]
	c.in = c.in[:0]
	c.held, c.stopped, c.eof, c.draining = false, false, false, false
	c.mayLinger, c.lingering, c.dropped = false, false, 0
	c.inBody, c.phase = false, phaseNone
	c.dropGate()
}

// Release drops per-connection buffers (an idle or closed connection).
func (c *Conn) Release() {
	c.p.Release()
	if cap(c.in) > 4096 {
		c.in = nil
	}
}

// OnData takes the bytes the peer sent (valid only during the call).
func (c *Conn) OnData(t Transport, data []byte) Action {
	if c.lingering {
		c.dropped += len(data)
		if c.dropped > maxLinger {
			return Close
		}
		return None
	}
	c.w.SetTime(c.cfg.Now())
	switch {
	case c.stopped:
		// RFC 9112 §9.6: nothing after a close or an error is processed.
		c.mayLinger = c.mayLinger || len(data) > 0
	case len(c.in) > 0 || c.held:
		if len(c.in)+len(data) > c.maxIn {
			return Abort
		}
		c.in = append(c.in, data...)
	default:
		rest := c.parse(data)
		if len(rest) > c.maxIn {
			return Abort
		}
		c.in = append(c.in, rest...)
	}
	return c.drive(t)
}

// OnWritable continues what backpressure stopped.
func (c *Conn) OnWritable(t Transport) Action {
	if c.lingering {
		return None
	}
	c.w.SetTime(c.cfg.Now())
	return c.drive(t)
}

// OnEOF: the peer will send nothing more. Its complete requests are still
// answered; then the connection closes.
func (c *Conn) OnEOF(t Transport) Action {
	c.eof = true
	if c.lingering {
		return Close
	}
	return c.drive(t)
}

// OnShutdown: the server is stopping. An idle connection closes now; one
// with requests in flight after their responses are written, the last one
// saying "Connection: close" (RFC 9112 §9.6: a server closing a persistent
// connection should do so between requests, and signal it). No request
// after those is parsed.
func (c *Conn) OnShutdown(t Transport) Action {
	c.draining = true
	if c.lingering {
		return None // it ends within LingerTimeout
	}
	if !c.stopped && !c.held && len(c.in) == 0 && c.p.Idle() {
		c.stopped = true
	}
	return c.drive(t)
}

// Idle reports whether c is between requests with nothing to send.
func (c *Conn) Idle() bool {
	return c.qLen == 0 && len(c.in) == 0 && !c.held && !c.stopped && !c.lingering && c.p.Idle()
}

func (c *Conn) push(r response) {
	c.q[(c.qHead+c.qLen)%QueueLen] = r
	c.qLen++
}

// parse feeds data to the parser while the queue has room for a response
// and a 100 Continue, and returns what it did not consume.
func (c *Conn) parse(data []byte) []byte {
	for !c.stopped {
		if QueueLen-c.qLen < 2 {
			c.held = true
			return data
		}
		n, ev := c.p.Feed(data)
		data = data[n:]
		switch ev {
		case http1.EvNeedMore:
			return nil
		case http1.EvHead:
			r := c.p.Request()
			c.cur = c.route(r)
			c.inBody = r.HasBody()
			if r.Expect100 && r.HasBody() {
				c.push(response{kind: kindContinue})
			}
		case http1.EvBody:
			// Request bodies are read and dropped.
		case http1.EvEnd:
			c.inBody = false
			c.push(c.cur)
			if c.draining {
				// The request in progress at shutdown: the last one.
				c.stopped = true
				c.mayLinger = c.mayLinger || len(data) > 0
			}
		case http1.EvError:
			c.push(response{kind: kindError, status: uint16(c.p.Status()), conn: http1.ConnClose})
			c.stopped = true
			c.mayLinger = true // the rest of the request may be on its way
		case http1.EvClosed:
			c.stopped = true
			c.mayLinger = c.mayLinger || len(data) > 0
		}
	}
	return nil
}

// drive writes what can be written, parses held input as the queue
// empties, and says when to close.
func (c *Conn) drive(t Transport) Action {
	for {
		blocked, err := c.flush(t)
		if err != nil {
			return Close
		}
		if blocked {
			return None
		}
		if c.stopped || !(c.held || len(c.in) > 0) {
			break
		}
		c.held = false
		rest := c.parse(c.in)
		c.in = c.in[:copy(c.in, rest)]
	}
	// Here every response is written and no input is held.
	switch {
	case c.stopped && c.mayLinger && !c.eof:
		c.lingering = true
		return Linger
	case c.stopped || c.eof:
		return Close
	}
	return None
}

// flush writes queued responses in order. It stops (blocked) in a large
// body when the transport holds data beyond its send buffer.
func (c *Conn) flush(t Transport) (blocked bool, err error) {
	for c.qLen > 0 {
		r := &c.q[c.qHead]
		if !c.headOut {
			c.appendHead(r)
			c.headOut = true
			if len(c.out) >= maxOut {
				if err := c.writeOut(t); err != nil {
					return false, err
				}
			}
		}
		if r.kind == kindPattern && !r.noBody {
			for c.sent < r.size {
				if len(c.out) > 0 {
					if err := c.writeOut(t); err != nil {
						return false, err
					}
				}
				if t.Buffered() > 0 {
					return true, nil
				}
				if l, ok := t.(Lender); ok && r.size-c.sent >= lendMin {
					if blocked, err := c.lend(l, r); blocked || err != nil {
						return blocked, err
					}
					continue
				}
				piece := bodyAt(c.sent, r.size-c.sent)
				if _, err := t.Write(piece); err != nil {
					return false, err
				}
				c.sent += int64(len(piece))
			}
		}
		c.qHead = (c.qHead + 1) % QueueLen
		c.qLen--
		c.headOut, c.sent = false, 0
	}
	if len(c.out) > 0 {
		return false, c.writeOut(t)
	}
	return false, nil
}

func (c *Conn) writeOut(t Transport) error {
	_, err := t.Write(c.out)
	c.out = c.out[:0]
	return err
}

// appendHead appends r's head to the batch, and its body when it is small.
func (c *Conn) appendHead(r *response) {
	if c.stopped && c.qLen == 1 && r.kind != kindContinue {
		// The last response of the connection says so (RFC 9112 §9.6).
		r.conn = http1.ConnClose
	}
	switch r.kind {
	case kindContinue:
		c.out = http1.AppendContinue(c.out)
	case kindError:
		c.out = c.w.AppendError(c.out, int(r.status))
	case kindText:
		body := r.text
		if r.noBody {
			c.out = c.w.AppendHead(c.out, int(r.status), r.conn, int64(len(body)), hdrText...)
		} else {
			c.out = c.w.AppendResponse(c.out, int(r.status), r.conn, textPlain, body)
		}
	case kindPattern:
		c.out = c.w.AppendHead(c.out, int(r.status), r.conn, r.size, hdrText...)
		if !r.noBody && r.size <= SmallBody {
			c.out = append(c.out, bodyAt(0, r.size)...)
			c.sent = r.size
		}
	}
}
