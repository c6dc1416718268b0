package http1_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/sluicenet/sluice/examples/httpd/http1"
)

// conn is what a server keeps per connection.
type conn struct {
	p    http1.Parser
	body int // bytes of the current request body seen
}

// onData is the shape of an OnData callback: parse everything that
// arrived, append one response per complete request to out, and report
// whether to close after sending out.
func onData(c *conn, w *http1.Writer, data, out []byte) ([]byte, bool) {
	for {
		n, ev := c.p.Feed(data)
		data = data[n:]
		switch ev {
		case http1.EvNeedMore:
			return out, false
		case http1.EvHead:
			c.body = 0
			if c.p.Request().Expect100 {
				out = http1.AppendContinue(out)
			}
		case http1.EvBody:
			c.body += len(c.p.Body())
		case http1.EvEnd:
			// Request's scalars are still valid here; its slices (method,
			// target, fields) only until the next Feed, so a real server
			// routes at EvHead.
			msg := fmt.Appendf(nil, "got %d body bytes\n", c.body)
			conn := http1.ConnectionFor(c.p.Request())
			out = w.AppendResponse(out, 200, conn, []byte("text/plain"), msg)
		case http1.EvError:
			return w.AppendError(out, c.p.Status()), true
		case http1.EvClosed:
			return out, true
		}
	}
}

func Example() {
	w := http1.NewWriter("sluice")
	w.SetTime(time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC))
	c := &conn{}
	c.p.Init(http1.Limits{})

	// Two pipelined requests, the second cut in the middle of a field name,
	// as TCP may deliver them.
	in := "GET / HTTP/1.1\r\nHost: a\r\n\r\nPOST /p HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc"
	var out []byte
	var closing bool
	for _, seg := range []string{in[:40], in[40:]} {
		out, closing = onData(c, w, []byte(seg), out)
	}
	fmt.Print(strings.ReplaceAll(string(out), "\r\n", "\n"))
	fmt.Println("close:", closing)
	// Output:
	// HTTP/1.1 200 OK
	// Date: Wed, 25 Nov 2026 06:00:00 GMT
	// Server: sluice
	// Content-Type: text/plain
	// Content-Length: 17
	//
	// got 0 body bytes
	// HTTP/1.1 200 OK
	// Date: Wed, 25 Nov 2026 06:00:00 GMT
	// Server: sluice
	// Content-Type: text/plain
	// Content-Length: 17
	// Connection: close
	//
	// got 3 body bytes
	// close: true
}
