package testbed

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"time"
)

// MaxWriteWait is net/http's maxWriteWaitBeforeConnReuse: after reading a
// response its Transport waits this long for the request writer goroutine
// to report the request written, and closes the connection if it has not
// (persistConn.wroteRequest). In a loaded process (-race, a busy 2-core
// machine, two goroutines per client connection beside the server's
// loops) that goroutine is now and then not scheduled again in time, and
// the Transport replaces a connection the server kept open: a client with
// MaxConnsPerHost n can dial more than n connections for reasons of its
// own.
const MaxWriteWait = 50 * time.Millisecond

// ConnLog records the connections an http.Client dials (Host.HTTPClientLog)
// and how each ended, so a test can tell the server's doing from
// net/http's: a connection the server ended (its FIN or RST) shows as a
// read or write error before the client's Close; one the Transport
// replaced after MaxWriteWait shows as a Close with no such error after a
// response that took the Transport that long to release (ConnLog.Do
// measures it).
type ConnLog struct {
	mu    sync.Mutex
	conns []*loggedConn
}

// loggedConn is one dialed connection and what happened to it.
type loggedConn struct {
	net.Conn
	id int

	mu       sync.Mutex
	requests int
	// serverEnd is the first read or write error seen before the
	// client's Close: the server's FIN (io.EOF) or RST.
	serverEnd error
	closed    bool
	// lastWait is how long the Transport took, once the last response
	// had arrived, to decide whether to keep the connection (see Do).
	lastWait time.Duration
}

// Wrap records c, dialed by the client.
func (l *ConnLog) Wrap(c net.Conn) net.Conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := &loggedConn{Conn: c, id: len(l.conns)}
	l.conns = append(l.conns, w)
	return w
}

func (c *loggedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.ended(err)
	return n, err
}

func (c *loggedConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.ended(err)
	return n, err
}

// ended notes err unless the client closed the connection first.
func (c *loggedConn) ended(err error) {
	if err == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed && c.serverEnd == nil {
		c.serverEnd = err
	}
}

func (c *loggedConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return c.Conn.Close()
}

// Do sends req on cl and reads the whole response body. If l is not nil
// (cl dials through it), the connection that served req is told how long
// the Transport took to decide whether to keep it: the body's final Read
// (the one returning io.EOF) returns only after that decision, and a
// response without a body comes back from cl.Do only after it.
func (l *ConnLog) Do(cl *http.Client, req *http.Request) (*http.Response, []byte, error) {
	var c *loggedConn // set by GotConn, in this goroutine (HTTP/1)
	if l != nil {
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			GotConn: func(info httptrace.GotConnInfo) { c, _ = info.Conn.(*loggedConn) },
		}))
	}
	start := time.Now()
	resp, err := cl.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	wait := time.Since(start)
	body := io.Reader(resp.Body)
	if resp.ContentLength != 0 {
		body = &eofTimer{r: resp.Body, took: &wait}
	}
	b, err := io.ReadAll(body)
	if c != nil {
		c.mu.Lock()
		c.requests++
		c.lastWait = wait
		c.mu.Unlock()
	}
	return resp, b, err
}

// eofTimer times the Read that returns io.EOF into took.
type eofTimer struct {
	r    io.Reader
	took *time.Duration
}

func (e *eofTimer) Read(b []byte) (int, error) {
	start := time.Now()
	n, err := e.r.Read(b)
	if err == io.EOF {
		*e.took = time.Since(start)
	}
	return n, err
}

// ConnEnds is how the connections of a ConnLog ended so far.
type ConnEnds struct {
	Dialed int
	// Server counts connections the server ended (FIN or RST) while the
	// client held them.
	Server int
	// Replaced counts connections the Transport closed after waiting
	// out MaxWriteWait for its request writer.
	Replaced int
	// Unexplained counts connections the client closed sooner after
	// their last response: for none of the reasons above.
	Unexplained int
	Detail      string // one line per connection counted above
}

// Ends sorts the connections l recorded by how they ended.
func (l *ConnLog) Ends() ConnEnds {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := ConnEnds{Dialed: len(l.conns)}
	var b strings.Builder
	for _, c := range l.conns {
		c.mu.Lock()
		what := ""
		switch {
		case c.serverEnd != nil:
			e.Server++
			what = fmt.Sprintf("ended by the server: %v", c.serverEnd)
		case c.closed && c.lastWait >= MaxWriteWait:
			e.Replaced++
			what = fmt.Sprintf("closed by net/http, its last response released after %v: the wait for the request writer", c.lastWait)
		case c.closed:
			e.Unexplained++
			what = fmt.Sprintf("closed by the client, its last response released after %v: not the wait for the request writer", c.lastWait)
		}
		if what != "" {
			fmt.Fprintf(&b, "conn %d %v (%d requests): %s\n", c.id, c.LocalAddr(), c.requests, what)
		}
		c.mu.Unlock()
	}
	e.Detail = b.String()
	return e
}

// Check is nil when the client dialed 1..max connections (plus one for
// each the Transport replaced) and the server ended none: what a test of
// keep-alive means by "at most max connections".
func (e ConnEnds) Check(max int) error {
	if e.Server > 0 || e.Unexplained > 0 || e.Dialed < 1 || e.Dialed > max+e.Replaced {
		return fmt.Errorf("%d client connections, want 1..%d (+%d replaced by net/http), none ended by the server (%d) or closed unexplained (%d):\n%s",
			e.Dialed, max, e.Replaced, e.Server, e.Unexplained, e.Detail)
	}
	return nil
}
