package loadgen

import (
	"strings"
	"testing"
)

func TestParseHead(t *testing.T) {
	const hello = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!"
	tests := []struct {
		name   string
		in     string
		want   Head
		errSub string
	}{
		{name: "complete", in: hello, want: Head{Len: len(hello) - 13, Status: 200, ContentLength: 13}},
		{name: "incomplete head", in: "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n", want: Head{}},
		{name: "empty", in: "", want: Head{}},
		{name: "connection close, any case, token list",
			in:   "HTTP/1.1 200 OK\r\ncontent-LENGTH:5\r\nConnection: keep-alive, Close \r\n\r\nhello",
			want: Head{Len: 69, Status: 200, ContentLength: 5, Close: true}},
		{name: "HTTP/1.0 and no reason", in: "HTTP/1.0 404\r\nContent-Length: 0\r\n\r\n",
			want: Head{Len: len("HTTP/1.0 404\r\nContent-Length: 0\r\n\r\n"), Status: 404, ContentLength: 0}},
		{name: "204 needs no length", in: "HTTP/1.1 204 No Content\r\n\r\n", want: Head{Len: 27, Status: 204}},
		{name: "repeated equal lengths", in: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n",
			want: Head{Len: len("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n"), Status: 200, ContentLength: 2}},
		{name: "conflicting lengths", in: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n", errSub: "Content-Length"},
		{name: "negative length", in: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", errSub: "Content-Length"},
		{name: "length with junk", in: "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", errSub: "Content-Length"},
		{name: "no length", in: "HTTP/1.1 200 OK\r\nServer: x\r\n\r\n", errSub: "no Content-Length"},
		{name: "chunked", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", errSub: "no Content-Length"},
		{name: "not HTTP", in: "SSH-2.0-OpenSSH\r\n\r\n", errSub: "status line"},
		{name: "HTTP/2 status line", in: "HTTP/2 200 OK\r\n\r\n", errSub: "status line"},
		{name: "letters in code", in: "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n", errSub: "status line"},
		{name: "four-digit code", in: "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n", errSub: "status line"},
		{name: "header without colon", in: "HTTP/1.1 200 OK\r\nContent-Length 0\r\n\r\n", errSub: "header"},
		{name: "folded header", in: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n x\r\n\r\n", errSub: "header"},
		{name: "head too long", in: "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", MaxHead), errSub: "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseHead([]byte(tt.in))
			if tt.errSub != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errSub) {
					t.Fatalf("ParseHead = %+v, %v; want error containing %q", got, err, tt.errSub)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseHead = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// TestParseHeadEveryPrefix feeds every prefix of a response: each is either
// "need more" or the complete head, never an error.
func TestParseHeadEveryPrefix(t *testing.T) {
	resp := "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nConnection: close\r\n\r\n"
	for i := range len(resp) {
		h, err := ParseHead([]byte(resp[:i]))
		if err != nil || h.Len != 0 {
			t.Fatalf("prefix %d: %+v, %v", i, h, err)
		}
	}
	if h, err := ParseHead([]byte(resp)); err != nil || h.Len != len(resp) || !h.Close {
		t.Fatalf("full: %+v, %v", h, err)
	}
}

func TestParseHeadAllocs(t *testing.T) {
	b := []byte("HTTP/1.1 200 OK\r\nContent-Length: 13\r\nConnection: close\r\n\r\nHello, World!")
	if n := testing.AllocsPerRun(100, func() { ParseHead(b) }); n != 0 {
		t.Fatalf("ParseHead allocates %v times", n)
	}
}

func FuzzParseHead(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!"))
	f.Add([]byte("HTTP/1.1 204 x\r\nConnection: close\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHead(b)
		if err == nil && (h.Len < 0 || h.Len > len(b) || h.ContentLength < 0) {
			t.Fatalf("%+v for %q", h, b)
		}
	})
}

func BenchmarkParseHead(b *testing.B) {
	buf := []byte("HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!")
	b.ReportAllocs()
	for b.Loop() {
		ParseHead(buf)
	}
}
