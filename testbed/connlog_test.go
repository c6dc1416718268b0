package testbed

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// stallingConn is a client connection whose Writes, once the data has gone
// out, return only when the connection is closed: the request writer
// goroutine of a loaded process that is not scheduled again in time.
type stallingConn struct {
	net.Conn
	closed chan struct{}
	once   sync.Once
}

func (c *stallingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	select {
	case <-c.closed:
	case <-time.After(5 * time.Second):
	}
	return n, err
}

func (c *stallingConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// TestConnLogWriterStall: net/http's Transport replaces a keep-alive
// connection on its own when its request writer has not reported the
// write done within MaxWriteWait of the response, so a client limited to
// one connection dials a second for its second request although the
// server kept the first open; ConnLog counts that connection as replaced,
// not ended by the server, and Check accepts it. A server that closes
// each connection after its response, or says Connection: close, fails
// Check.
func TestConnLogWriterStall(t *testing.T) {
	for _, tc := range []struct {
		name                                  string
		stall, serverClose, connClose         bool
		dialed, server, replaced, unexplained int
	}{
		{"kept", false, false, false, 1, 0, 0, 0},
		{"writer stalls", true, false, false, 2, 0, 1, 0},
		{"server closes", false, true, false, 2, 2, 0, 0},
		{"Connection: close", false, false, true, 2, 0, 0, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "2")
				io.WriteString(w, "ok")
				if tc.serverClose {
					// Close without saying Connection: close, as an
					// idle timeout would.
					rc := http.NewResponseController(w)
					rc.Flush()
					if c, _, err := rc.Hijack(); err == nil {
						c.Close()
					}
				}
			}))
			srv.Config.SetKeepAlivesEnabled(!tc.connClose)
			defer srv.Close()
			var log ConnLog
			first := true
			tr := &http.Transport{
				DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					var d net.Dialer
					c, err := d.DialContext(ctx, network, addr)
					if err != nil {
						return nil, err
					}
					if first && tc.stall {
						c = &stallingConn{Conn: c, closed: make(chan struct{})}
					}
					first = false
					return log.Wrap(c), nil
				},
				MaxConnsPerHost:     1,
				MaxIdleConnsPerHost: 1,
			}
			defer tr.CloseIdleConnections()
			cl := &http.Client{Transport: tr, Timeout: 30 * time.Second}
			for range 2 {
				req, _ := http.NewRequest("GET", srv.URL, nil)
				_, b, err := log.Do(cl, req)
				if err != nil || string(b) != "ok" {
					t.Fatalf("body %q, %v", b, err)
				}
			}
			// A connection's end is logged by the transport's read loop,
			// which sees the server's close after Do returned: wait up
			// to 2 s for the ends to reach the expected counts.
			want := func(e ConnEnds) bool {
				return e.Dialed == tc.dialed && e.Server == tc.server && e.Replaced == tc.replaced && e.Unexplained == tc.unexplained
			}
			e := log.Ends()
			for deadline := time.Now().Add(2 * time.Second); !want(e) && time.Now().Before(deadline); e = log.Ends() {
				time.Sleep(5 * time.Millisecond)
			}
			t.Logf("%+v", e)
			if !want(e) {
				t.Errorf("%+v, want %d dialed, %d ended by the server, %d replaced, %d unexplained",
					e, tc.dialed, tc.server, tc.replaced, tc.unexplained)
			}
			if err := e.Check(1); (err == nil) != (tc.server+tc.unexplained == 0) {
				t.Errorf("Check(1): %v", err)
			}
		})
	}
}
