package http1

import (
	"bufio"
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"
)

// typicalGET is a browser-like GET with 6 field lines.
const typicalGET = "GET /static/app.js?v=42 HTTP/1.1\r\n" +
	"Host: 198.18.0.1:8080\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0\r\n" +
	"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" +
	"Accept-Language: en-US,en;q=0.5\r\n" +
	"Accept-Encoding: gzip, deflate\r\n" +
	"Connection: keep-alive\r\n\r\n"

const postBody = "POST /api/v1/items HTTP/1.1\r\nHost: 198.18.0.1\r\nContent-Type: application/json\r\n" +
	"Content-Length: 64\r\n\r\n{\"id\":1,\"name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}"

const chunkedPost = "POST /up HTTP/1.1\r\nHost: 198.18.0.1\r\nTransfer-Encoding: chunked\r\n\r\n" +
	"10\r\n0123456789abcdef\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n"

// parseAll feeds data and counts completed requests; it fails on anything
// but a clean parse.
func parseAll(p *Parser, chunks ...[]byte) int {
	done := 0
	for _, data := range chunks {
		for {
			n, ev := p.Feed(data)
			data = data[n:]
			switch ev {
			case EvEnd:
				done++
			case EvError, EvClosed:
				return -1
			}
			if ev == EvNeedMore {
				break
			}
		}
	}
	return done
}

func TestZeroAllocs(t *testing.T) {
	get := []byte(typicalGET)
	head1, head2 := get[:50], get[50:]
	pipe := []byte(strings.Repeat(typicalGET, 8))
	w := NewWriter("sluice")
	out := make([]byte, 0, 4096)
	body := bytes.Repeat([]byte("x"), 512)
	post, chunked := []byte(postBody), []byte(chunkedPost)
	for _, tc := range []struct {
		name string
		fn   func(p *Parser) int
		want int
	}{
		{"GET", func(p *Parser) int { return parseAll(p, get) }, 1},
		{"GET split head", func(p *Parser) int { return parseAll(p, head1, head2) }, 1},
		{"pipelined 8", func(p *Parser) int { return parseAll(p, pipe) }, 8},
		{"POST body", func(p *Parser) int { return parseAll(p, post) }, 1},
		{"chunked", func(p *Parser) int { return parseAll(p, chunked) }, 1},
		{"response", func(p *Parser) int {
			w.SetTime(time.Unix(1764050000, 0))
			out = w.AppendResponse(out[:0], 200, ConnDefault, []byte("text/plain"), body)
			out = w.AppendError(out[:0], 431)
			out = w.AppendHead(out[:0], 200, ConnKeepAlive, -1, TransferEncodingChunked)
			out = AppendLastChunk(AppendChunk(out, body))
			return 1
		}, 1},
	} {
		p := NewParser(Limits{})
		if got := tc.fn(p); got != tc.want { // also warms the split-head buffer up
			t.Fatalf("%s: %d requests, want %d", tc.name, got, tc.want)
		}
		if a := testing.AllocsPerRun(100, func() { tc.fn(p) }); a != 0 {
			t.Errorf("%s: %v allocs per run, want 0", tc.name, a)
		}
	}
}

func benchParse(b *testing.B, reqs int, chunks ...[]byte) {
	n := 0
	for _, c := range chunks {
		n += len(c)
	}
	b.SetBytes(int64(n))
	b.ReportAllocs()
	p := NewParser(Limits{})
	for b.Loop() {
		if parseAll(p, chunks...) != reqs {
			b.Fatal("parse failed")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*reqs), "ns/req")
}

func BenchmarkParseGET(b *testing.B) { benchParse(b, 1, []byte(typicalGET)) }

func BenchmarkParseGETSplitHead(b *testing.B) {
	g := []byte(typicalGET)
	benchParse(b, 1, g[:100], g[100:])
}

func BenchmarkParseGETPipelined16(b *testing.B) {
	benchParse(b, 16, []byte(strings.Repeat(typicalGET, 16)))
}

func BenchmarkParsePOSTBody(b *testing.B) { benchParse(b, 1, []byte(postBody)) }

func BenchmarkParseChunked(b *testing.B) { benchParse(b, 1, []byte(chunkedPost)) }

func BenchmarkAppendResponse(b *testing.B) {
	w := NewWriter("sluice")
	now := time.Unix(1764050000, 0)
	body := bytes.Repeat([]byte("x"), 128)
	out := make([]byte, 0, 1024)
	ct := []byte("text/plain")
	b.ReportAllocs()
	for b.Loop() {
		w.SetTime(now)
		out = w.AppendResponse(out[:0], 200, ConnDefault, ct, body)
	}
	b.SetBytes(int64(len(out)))
}

func BenchmarkSetTimeNewSecond(b *testing.B) {
	w := NewWriter("")
	now := time.Unix(1764050000, 0)
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Second)
		w.SetTime(now)
	}
}

// BenchmarkServeGET is the per-request work of the httpd shell without
// I/O: parse a typical GET and append a 128-byte response.
func BenchmarkServeGET(b *testing.B) {
	p := NewParser(Limits{})
	w := NewWriter("sluice")
	now := time.Unix(1764050000, 0)
	req := []byte(typicalGET)
	body := bytes.Repeat([]byte("x"), 128)
	ct := []byte("text/plain")
	out := make([]byte, 0, 1024)
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	for b.Loop() {
		w.SetTime(now)
		out = out[:0]
		data := req
		for {
			n, ev := p.Feed(data)
			data = data[n:]
			if ev == EvEnd {
				out = w.AppendResponse(out, 200, ConnectionFor(p.Request()), ct, body)
			} else if ev == EvNeedMore {
				break
			} else if ev != EvHead {
				b.Fatal(ev)
			}
		}
	}
}

// BenchmarkNetHTTPReadRequest is the reference point: net/http reading the
// same GET (it allocates the Request, its Header map and strings).
func BenchmarkNetHTTPReadRequest(b *testing.B) {
	req := []byte(typicalGET)
	rd := bytes.NewReader(req)
	br := bufio.NewReader(rd)
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(req)
		br.Reset(rd)
		if _, err := http.ReadRequest(br); err != nil {
			b.Fatal(err)
		}
	}
}
