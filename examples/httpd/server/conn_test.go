package server

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicenet/sluice/examples/httpd/http1"
)

// memTransport is an in-memory Transport with a send buffer of sndBuf
// octets: what was written beyond it (and not drained) is Buffered.
type memTransport struct {
	out      []byte
	sndBuf   int
	inFlight int
	maxHeld  int
	writes   int
}

func (m *memTransport) Write(p []byte) (int, error) {
	m.out = append(m.out, p...)
	m.inFlight += len(p)
	m.writes++
	m.maxHeld = max(m.maxHeld, m.Buffered())
	return len(p), nil
}

func (m *memTransport) Buffered() int { return max(0, m.inFlight-m.sndBuf) }

// drain: the peer acknowledged everything.
func (m *memTransport) drain() { m.inFlight = 0 }

var testNow = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

func newTestConn(t testing.TB, o Options) (*Handler, *Conn) {
	t.Helper()
	o.Now = func() time.Time { return testNow }
	h := NewHandler(o)
	return h, h.NewConn()
}

type resp struct {
	status int
	header http.Header
	body   []byte
	close  bool
}

// readResponses parses out as the responses to methods, in order.
func readResponses(t *testing.T, out []byte, methods ...string) []resp {
	t.Helper()
	br := bufio.NewReader(bytes.NewReader(out))
	var rs []resp
	for i, m := range methods {
		hr, err := http.ReadResponse(br, &http.Request{Method: m})
		if err != nil {
			t.Fatalf("response %d (%s): %v\noutput: %q", i, m, err, out)
		}
		b, err := io.ReadAll(hr.Body)
		if err != nil {
			t.Fatalf("response %d body: %v", i, err)
		}
		rs = append(rs, resp{hr.StatusCode, hr.Header, b, hr.Close})
	}
	if rest, _ := io.ReadAll(br); len(rest) > 0 {
		t.Fatalf("%d octets after %d responses: %q", len(rest), len(methods), rest)
	}
	return rs
}

func TestPipelinedAndSplit(t *testing.T) {
	in := "GET / HTTP/1.1\r\nHost: a\r\n\r\n" +
		"GET /size/100 HTTP/1.1\r\nHost: a\r\n\r\n" +
		"HEAD /bytes/5000 HTTP/1.1\r\nHost: a\r\n\r\n" +
		"POST /size/7?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello" +
		"PUT /size/3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" +
		"GET http://a/size/2 HTTP/1.1\r\nHost: a\r\n\r\n" +
		"GET /nope HTTP/1.1\r\nHost: a\r\n\r\n" +
		"DELETE / HTTP/1.1\r\nHost: a\r\n\r\n" +
		"GET /size/20000 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" +
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n" // after close: never answered
	methods := []string{"GET", "GET", "HEAD", "POST", "PUT", "GET", "GET", "DELETE", "GET"}
	var whole []byte
	for _, step := range []int{len(in), 1, 7, 100} {
		t.Run(fmt.Sprint("chunk ", step), func(t *testing.T) {
			_, c := newTestConn(t, Options{})
			m := &memTransport{sndBuf: 1 << 30}
			var a Action
			fed := 0
			for fed < len(in) && a == None {
				a = c.OnData(m, []byte(in[fed:min(fed+step, len(in))]))
				fed += step
			}
			// The close request ends at closeEnd; the server stops there.
			// Bytes after it in the same read make it linger (the client
			// is still sending, RFC 9112 §9.6).
			closeEnd := strings.Index(in, "close\r\n\r\n") + len("close\r\n\r\n")
			if fed < closeEnd {
				t.Fatalf("action %v after %d octets, before the close request ended (%d)", a, fed, closeEnd)
			}
			if want := map[bool]Action{true: Linger, false: Close}[fed > closeEnd]; a != want {
				t.Fatalf("action %v after %d octets (close request ends at %d), want %v", a, fed, closeEnd, want)
			}
			if whole == nil {
				whole = m.out
			} else if !bytes.Equal(m.out, whole) {
				t.Fatalf("output differs from the one-chunk run")
			}
			rs := readResponses(t, m.out, methods...)
			want := []struct {
				status int
				body   []byte
			}{{200, Body(DefaultSize)}, {200, Body(100)}, {200, nil}, {200, Body(7)}, {200, Body(3)},
				{200, Body(2)}, {404, msgNotFound}, {501, msgNotImpl}, {200, Body(20000)}}
			for i, w := range want {
				if rs[i].status != w.status || !bytes.Equal(rs[i].body, w.body) {
					t.Errorf("response %d: %d %q, want %d %q", i, rs[i].status, trunc(rs[i].body), w.status, trunc(w.body))
				}
			}
			if got := rs[2].header.Get("Content-Length"); got != "5000" {
				t.Errorf("HEAD Content-Length %q, want 5000", got)
			}
			if !rs[8].close || rs[0].close {
				t.Errorf("close flags: first %v, last %v", rs[0].close, rs[8].close)
			}
			if rs[0].header.Get("Date") != "Wed, 25 Nov 2026 08:00:00 GMT" || rs[0].header.Get("Server") != "sluice-httpd" {
				t.Errorf("header %v", rs[0].header)
			}
		})
	}
}

func trunc(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

func TestHTTP10(t *testing.T) {
	_, c := newTestConn(t, Options{})
	m := &memTransport{sndBuf: 1 << 30}
	if a := c.OnData(m, []byte("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")); a != None {
		t.Fatalf("1.0 keep-alive: action %v", a)
	}
	if !bytes.Contains(m.out, []byte("Connection: keep-alive\r\n")) {
		t.Errorf("1.0 keep-alive answered without Connection: keep-alive: %q", m.out)
	}
	if a := c.OnData(m, []byte("GET /size/1 HTTP/1.0\r\n\r\n")); a != Close {
		t.Fatalf("plain 1.0: action %v, want Close", a)
	}
	rs := readResponses(t, m.out, "GET", "GET")
	if !rs[1].close || string(rs[1].body) != "0" {
		t.Errorf("1.0 response: close %v body %q", rs[1].close, rs[1].body)
	}
}

func TestErrors(t *testing.T) {
	long := strings.Repeat("a", 9000)
	for _, tc := range []struct {
		name, in string
		lim      http1.Limits
		status   int
		answered int // responses before the error
	}{
		{"malformed request-line", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", http1.Limits{}, 400, 0},
		{"bare LF", "GET / HTTP/1.1\nHost: a\n\n", http1.Limits{}, 400, 0},
		{"no Host", "GET / HTTP/1.1\r\n\r\n", http1.Limits{}, 400, 0},
		{"after a good one", "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost : a\r\n\r\n", http1.Limits{}, 400, 1},
		{"oversized header", "GET / HTTP/1.1\r\nHost: a\r\nX: " + long + "\r\n\r\n", http1.Limits{}, 431, 0},
		{"too many fields", "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: 1\r\n", 70) + "\r\n", http1.Limits{}, 431, 0},
		{"body too large", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000\r\n\r\n", http1.Limits{MaxBodyBytes: 1000}, 413, 0},
		{"gzip coding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", http1.Limits{}, 501, 0},
		{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", http1.Limits{}, 505, 0},
		{"bad chunk after head", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", http1.Limits{}, 400, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, c := newTestConn(t, Options{Limits: tc.lim})
			m := &memTransport{sndBuf: 1 << 30}
			if a := c.OnData(m, []byte(tc.in)); a != Linger {
				t.Fatalf("action %v, want Linger", a)
			}
			methods := make([]string, tc.answered+1)
			for i := range methods {
				methods[i] = "GET"
			}
			rs := readResponses(t, m.out, methods...)
			last := rs[tc.answered]
			if last.status != tc.status || !last.close {
				t.Fatalf("status %d close %v, want %d and close", last.status, last.close, tc.status)
			}
			// Lingering: what arrives is dropped, nothing answered; the
			// peer's FIN ends it.
			n := len(m.out)
			if a := c.OnData(m, []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n")); a != None || len(m.out) != n {
				t.Fatalf("after the error: action %v, %d more octets", a, len(m.out)-n)
			}
			if a := c.OnEOF(m); a != Close {
				t.Fatalf("FIN while lingering: %v, want Close", a)
			}
		})
	}
}

func TestExpectContinue(t *testing.T) {
	_, c := newTestConn(t, Options{})
	m := &memTransport{sndBuf: 1 << 30}
	c.OnData(m, []byte("POST /size/4 HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"))
	if !bytes.HasPrefix(m.out, []byte("HTTP/1.1 100 Continue\r\n\r\n")) || bytes.Contains(m.out, []byte("200 OK")) {
		t.Fatalf("before the body: %q", m.out)
	}
	c.OnData(m, []byte("abc"))
	rs := readResponses(t, m.out[len("HTTP/1.1 100 Continue\r\n\r\n"):], "POST")
	if rs[0].status != 200 || string(rs[0].body) != "0123" {
		t.Fatalf("%d %q", rs[0].status, rs[0].body)
	}
}

// TestBackpressure: a large body goes out only as the transport drains,
// never more than one piece beyond the send buffer; requests pipelined
// behind it are answered after it, in order.
func TestBackpressure(t *testing.T) {
	const size = 1 << 20
	_, c := newTestConn(t, Options{})
	m := &memTransport{sndBuf: 64 << 10}
	in := "GET /size/1048576 HTTP/1.1\r\nHost: a\r\n\r\n" + strings.Repeat("GET /size/10 HTTP/1.1\r\nHost: a\r\n\r\n", 40)
	if a := c.OnData(m, []byte(in)); a != None {
		t.Fatalf("action %v", a)
	}
	if len(m.out) > 64<<10+2*maxPiece {
		t.Fatalf("%d octets written before any drained", len(m.out))
	}
	rounds := 0
	for ; rounds < 1000 && m.Buffered() > 0; rounds++ {
		m.drain()
		if a := c.OnWritable(m); a != None {
			t.Fatalf("OnWritable: %v", a)
		}
	}
	if rounds < size/(2*maxPiece) {
		t.Fatalf("whole body in %d rounds: not paced by the transport", rounds)
	}
	if m.maxHeld > maxPiece+4096 {
		t.Fatalf("held %d octets beyond the send buffer", m.maxHeld)
	}
	methods := make([]string, 41)
	for i := range methods {
		methods[i] = "GET"
	}
	rs := readResponses(t, m.out, methods...)
	if !bytes.Equal(rs[0].body, Body(size)) {
		t.Fatalf("large body differs")
	}
	for i := 1; i < len(rs); i++ {
		if string(rs[i].body) != "0123456789" {
			t.Fatalf("response %d: %q", i, rs[i].body)
		}
	}
	if !c.Idle() {
		t.Fatalf("not idle after all answered")
	}
}

// TestHalfClose: the peer's FIN after its request does not cut the
// response short; the connection closes once it is written.
func TestHalfClose(t *testing.T) {
	_, c := newTestConn(t, Options{})
	m := &memTransport{sndBuf: 64 << 10}
	c.OnData(m, []byte("GET /size/300000 HTTP/1.1\r\nHost: a\r\n\r\n"))
	if a := c.OnEOF(m); a != None {
		t.Fatalf("OnEOF with a response in progress: %v", a)
	}
	a := None
	for i := 0; i < 100 && a == None; i++ {
		m.drain()
		a = c.OnWritable(m)
	}
	if a != Close {
		t.Fatalf("after the body: %v, want Close", a)
	}
	rs := readResponses(t, m.out, "GET")
	if !bytes.Equal(rs[0].body, Body(300000)) {
		t.Fatal("body differs")
	}
	// A FIN on an idle connection closes at once.
	_, c2 := newTestConn(t, Options{})
	if a := c2.OnEOF(m); a != Close {
		t.Fatalf("idle OnEOF: %v", a)
	}
}

// TestFlood: a client pipelining without reading, behind a blocked
// response, is cut off once the held input passes its bound.
func TestFlood(t *testing.T) {
	_, c := newTestConn(t, Options{})
	m := &memTransport{sndBuf: 1024}
	c.OnData(m, []byte("GET /size/1000000 HTTP/1.1\r\nHost: a\r\n\r\n"))
	req := []byte(strings.Repeat("GET / HTTP/1.1\r\nHost: a\r\n\r\n", 100))
	a := None
	for i := 0; i < 1000 && a == None; i++ {
		a = c.OnData(m, req)
	}
	if a != Abort {
		t.Fatalf("action %v, want Abort", a)
	}
	if len(c.in) > c.maxIn {
		t.Fatalf("held %d > %d", len(c.in), c.maxIn)
	}
}

func TestShutdown(t *testing.T) {
	_, c := newTestConn(t, Options{})
	m := &memTransport{sndBuf: 1 << 30}
	c.OnData(m, []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HT"))
	if a := c.OnShutdown(m); a != None {
		t.Fatalf("shutdown mid-request: %v", a)
	}
	if a := c.OnData(m, []byte("TP/1.1\r\nHost: a\r\n\r\n")); a != Close {
		t.Fatalf("request finished during shutdown: %v, want Close", a)
	}
	rs := readResponses(t, m.out, "GET", "GET")
	if rs[0].close || !rs[1].close {
		t.Fatalf("Connection: close on the first %v, on the last %v; want only the last", rs[0].close, rs[1].close)
	}
	// Shutdown with two responses queued behind backpressure: both are
	// sent, the second says close, nothing after is parsed.
	_, c = newTestConn(t, Options{})
	m = &memTransport{sndBuf: 1000}
	c.OnData(m, []byte("GET /size/100000 HTTP/1.1\r\nHost: a\r\n\r\nGET /size/1 HTTP/1.1\r\nHost: a\r\n\r\n"))
	if a := c.OnShutdown(m); a != None {
		t.Fatalf("shutdown while writing: %v", a)
	}
	a := None
	for i := 0; i < 100 && a == None; i++ {
		m.drain()
		a = c.OnWritable(m)
	}
	if a != Close {
		t.Fatalf("after the responses: %v", a)
	}
	rs = readResponses(t, m.out, "GET", "GET")
	if rs[0].close || !rs[1].close || string(rs[1].body) != "0" {
		t.Fatalf("close flags %v %v, last body %q", rs[0].close, rs[1].close, rs[1].body)
	}
	// An idle connection closes at once.
	_, c = newTestConn(t, Options{})
	if a := c.OnShutdown(m); a != Close {
		t.Fatalf("idle shutdown: %v", a)
	}
}

func TestTargetPath(t *testing.T) {
	for in, want := range map[string]string{
		"/":                    "/",
		"/size/3?a=b":          "/size/3",
		"http://h:80/size/9?x": "/size/9",
		"http://h":             "/",
		"*":                    "*",
	} {
		if got := string(targetPath([]byte(in))); got != want {
			t.Errorf("targetPath(%q) = %q, want %q", in, got, want)
		}
	}
	o := Options{}.withDefaults()
	for path, want := range map[string]int64{"/size/0": 0, "/bytes/64": 64, "/size/x": -1, "/size/": -1, "/size/1073741825": -1} {
		n, ok := o.sizeFor([]byte(path))
		if !ok {
			n = -1
		}
		if n != want {
			t.Errorf("sizeFor(%q) = %d, want %d", path, n, want)
		}
	}
}

// TestLinger: a close with nothing more from the client is immediate; the
// dropping of a lingering close is bounded.
func TestLinger(t *testing.T) {
	_, c := newTestConn(t, Options{})
	m := &memTransport{sndBuf: 1 << 30}
	if a := c.OnData(m, []byte("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")); a != Close {
		t.Fatalf("Connection: close alone: %v, want Close", a)
	}
	_, c = newTestConn(t, Options{})
	if a := c.OnData(m, []byte("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET")); a != Linger {
		t.Fatalf("bytes after Connection: close: %v, want Linger", a)
	}
	if c.Idle() {
		t.Fatal("a lingering connection reports Idle")
	}
	junk := make([]byte, 64<<10)
	a := None
	for i := 0; i < 1000 && a == None; i++ {
		a = c.OnData(m, junk)
	}
	if a != Close || c.dropped > maxLinger+len(junk) {
		t.Fatalf("after %d dropped octets: %v, want Close past %d", c.dropped, a, maxLinger)
	}
	// A malformed request whose sender already half-closed: no one to
	// linger for.
	_, c = newTestConn(t, Options{})
	if a := c.OnEOF(m); a != Close {
		t.Fatalf("idle FIN: %v", a)
	}
	_, c = newTestConn(t, Options{})
	m = &memTransport{sndBuf: 1}
	c.OnData(m, []byte("GET /size/100000 HTTP/1.1\r\nHost: a\r\n\r\nBAD\r\n"))
	if a := c.OnEOF(m); a != None {
		t.Fatalf("FIN with a response in progress: %v", a)
	}
	a = None
	for i := 0; i < 100 && a == None; i++ {
		m.drain()
		a = c.OnWritable(m)
	}
	if a != Close {
		t.Fatalf("error response after the peer's FIN: %v, want Close", a)
	}
	readResponses(t, m.out, "GET", "GET")
}
