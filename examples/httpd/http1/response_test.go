package http1

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 25, 6, 30, 7, 999, time.FixedZone("X", 3600))

func readResponse(t *testing.T, b []byte) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(b)), nil)
	if err != nil {
		t.Fatalf("net/http cannot read %q: %v", b, err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("body of %q: %v", b, err)
	}
	return resp, body
}

func TestAppendResponse(t *testing.T) {
	w := NewWriter("sluice\r\nX: injected")
	w.SetTime(t0)
	got := w.AppendResponse([]byte("prefix"), 200, ConnDefault, []byte("text/plain"), []byte("hello"))
	want := "prefixHTTP/1.1 200 OK\r\nDate: Wed, 25 Nov 2026 05:30:07 GMT\r\nServer: sluiceX: injected\r\n" +
		"Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
	if string(got) != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
	resp, body := readResponse(t, got[len("prefix"):])
	if resp.StatusCode != 200 || string(body) != "hello" || resp.Close ||
		resp.Header.Get("Date") != "Wed, 25 Nov 2026 05:30:07 GMT" {
		t.Fatalf("net/http reads %d %q close=%v date=%q", resp.StatusCode, body, resp.Close, resp.Header.Get("Date"))
	}
	if _, err := http.ParseTime(resp.Header.Get("Date")); err != nil {
		t.Fatal(err)
	}
}

func TestConnectionModes(t *testing.T) {
	w := NewWriter("")
	w.SetTime(t0)
	for _, tc := range []struct {
		req   string
		conn  Connection
		close bool
	}{
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", ConnDefault, false},
		{"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", ConnClose, true},
		{"GET / HTTP/1.0\r\n\r\n", ConnClose, true},
		{"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", ConnKeepAlive, false},
	} {
		p := NewParser(Limits{})
		if _, ev := p.Feed([]byte(tc.req)); ev != EvHead {
			t.Fatalf("%q: %v", tc.req, ev)
		}
		c := ConnectionFor(p.Request())
		if c != tc.conn {
			t.Fatalf("%q: ConnectionFor %d, want %d", tc.req, c, tc.conn)
		}
		out := w.AppendResponse(nil, 200, c, nil, []byte("x"))
		// Read it as the client that sent the request would.
		req, _ := http.ReadRequest(bufio.NewReader(bytes.NewReader([]byte(tc.req))))
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(out)), req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Close != tc.close {
			t.Fatalf("%q: client sees close=%v, want %v\n%q", tc.req, resp.Close, tc.close, out)
		}
	}
}

func TestAppendHeadRules(t *testing.T) {
	w := NewWriter("s")
	// Before SetTime: no Date.
	if got := string(w.AppendHead(nil, 204, ConnDefault, 10)); got != "HTTP/1.1 204 No Content\r\nServer: s\r\n\r\n" {
		t.Fatalf("204: %q (no Date before SetTime, no Content-Length in 204, RFC 9110 §8.6)", got)
	}
	w.SetTime(t0)
	if got := string(w.AppendHead(nil, 100, ConnDefault, 0)); bytes.Contains([]byte(got), []byte("Content-Length")) {
		t.Fatalf("1xx with Content-Length: %q", got)
	}
	if got := string(w.AppendHead(nil, 42, ConnDefault, -1)); got[:len("HTTP/1.1 500 ")] != "HTTP/1.1 500 " {
		t.Fatalf("bad status not mapped to 500: %q", got)
	}
	got := string(w.AppendHead(nil, 299, ConnClose, -1,
		Header{Name: []byte("X-Ok"), Value: []byte("v\tw")},
		Header{Name: []byte("X-Bad"), Value: []byte("a\r\nSet-Cookie: x")},
		Header{Name: []byte("Bad Name"), Value: []byte("v")}))
	want := "HTTP/1.1 299 \r\nDate: Wed, 25 Nov 2026 05:30:07 GMT\r\nServer: s\r\nX-Ok: v\tw\r\nConnection: close\r\n\r\n"
	if got != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
	if got := string(w.AppendResponse(nil, 304, ConnDefault, nil, []byte("body"))); bytes.Contains([]byte(got), []byte("body")) {
		t.Fatalf("304 with a body: %q", got)
	}
	if got := string(AppendContinue(nil)); got != "HTTP/1.1 100 Continue\r\n\r\n" {
		t.Fatal(got)
	}
}

func TestSetTimeCachesPerSecond(t *testing.T) {
	w := NewWriter("")
	w.SetTime(t0)
	d1 := string(w.Date())
	w.SetTime(t0.Add(500 * time.Millisecond)) // same second
	if string(w.Date()) != d1 {
		t.Fatalf("changed within a second: %q -> %q", d1, w.Date())
	}
	w.SetTime(t0.Add(time.Second))
	if d2 := string(w.Date()); d2 != "Date: Wed, 25 Nov 2026 05:30:08 GMT\r\n" {
		t.Fatalf("next second: %q", d2)
	}
}

func TestAppendErrorCanned(t *testing.T) {
	w := NewWriter("sluice")
	w.SetTime(t0)
	for _, st := range []int{400, 413, 414, 431, 501, 505} {
		out := w.AppendError(nil, st)
		resp, body := readResponse(t, out)
		if resp.StatusCode != st || !resp.Close || StatusText(st) == "" ||
			string(body) != itoa(st)+" "+StatusText(st)+"\n" || resp.Header.Get("Content-Type") == "" {
			t.Fatalf("%d: status %d close=%v body %q\n%q", st, resp.StatusCode, resp.Close, body, out)
		}
	}
}

func TestChunkedResponse(t *testing.T) {
	w := NewWriter("")
	w.SetTime(t0)
	out := w.AppendHead(nil, 200, ConnDefault, -1, TransferEncodingChunked)
	out = AppendChunk(out, []byte("hello, "))
	out = AppendChunk(out, nil)
	out = AppendChunk(out, bytes.Repeat([]byte("w"), 300))
	out = AppendLastChunk(out)
	resp, body := readResponse(t, out)
	if resp.StatusCode != 200 || len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" ||
		string(body) != "hello, "+string(bytes.Repeat([]byte("w"), 300)) {
		t.Fatalf("net/http reads %d %v %q", resp.StatusCode, resp.TransferEncoding, body)
	}
	// Our own parser decodes the same framing.
	p := NewParser(Limits{})
	req := append([]byte("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"), out[bytes.Index(out, []byte("\r\n\r\n"))+4:]...)
	if got := transcript(t, p, whole(req)); !strings.Contains(got, string(body[:7])) || !strings.HasSuffix(got, "E\n") {
		t.Fatalf("parser reads:\n%s", got)
	}
}
