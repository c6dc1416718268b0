package http1

import (
	"fmt"
	"strings"
	"testing"
)

// describe renders a request head canonically, for comparing parses.
func describe(r *Request) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "H %q %q 1.%d ka=%v cl=%d chunked=%v e100=%v host=%q", r.Method, r.Target,
		r.Minor, r.KeepAlive, r.ContentLength, r.Chunked, r.Expect100, r.Host)
	for _, h := range r.Headers {
		fmt.Fprintf(&sb, " [%q: %q]", h.Name, h.Value)
	}
	return sb.String()
}

// transcript feeds chunks in order and records every event. Body pieces are
// joined per request, since how a body is cut depends on the chunking. After
// each chunk is fed its bytes are overwritten, as a TCP receive buffer would
// be reused: the parser must not keep references into a chunk across Feeds.
func transcript(tb testing.TB, p *Parser, chunks [][]byte) string {
	tb.Helper()
	var sb strings.Builder
	var body []byte
	for _, c := range chunks {
		data := c
		for iter := 0; ; iter++ {
			if iter > 4*len(c)+16 {
				tb.Fatalf("Feed makes no progress on %q", data)
			}
			n, ev := p.Feed(data)
			if n < 0 || n > len(data) {
				tb.Fatalf("Feed consumed %d of %d bytes", n, len(data))
			}
			if ev == EvNeedMore && n != len(data) {
				tb.Fatalf("EvNeedMore after consuming %d of %d bytes", n, len(data))
			}
			data = data[n:]
			switch ev {
			case EvHead:
				sb.WriteString(describe(p.Request()))
				sb.WriteByte('\n')
			case EvBody:
				if len(p.Body()) == 0 {
					tb.Fatalf("empty EvBody")
				}
				body = append(body, p.Body()...)
			case EvEnd:
				fmt.Fprintf(&sb, "B %q\nE\n", body)
				body = body[:0]
			case EvError:
				fmt.Fprintf(&sb, "X %d\n", p.Status())
				return sb.String()
			case EvClosed:
				sb.WriteString("C\n")
				return sb.String()
			}
			if ev == EvNeedMore {
				break
			}
		}
		for i := range c {
			c[i] = 'Z'
		}
	}
	if len(body) > 0 {
		fmt.Fprintf(&sb, "b %q\n", body)
	}
	if !p.Idle() {
		sb.WriteString("…\n")
	}
	return sb.String()
}

func copyChunks(parts ...[]byte) [][]byte {
	out := make([][]byte, 0, len(parts))
	for _, p := range parts {
		out = append(out, append([]byte(nil), p...))
	}
	return out
}

func whole(in []byte) [][]byte { return copyChunks(in) }

func byteByByte(in []byte) [][]byte {
	out := make([][]byte, len(in))
	for i := range in {
		out[i] = []byte{in[i]}
	}
	return out
}

func splitAt(in []byte, cuts ...int) [][]byte {
	var parts [][]byte
	prev := 0
	for _, c := range cuts {
		if c < prev || c > len(in) {
			continue
		}
		parts = append(parts, in[prev:c])
		prev = c
	}
	parts = append(parts, in[prev:])
	return copyChunks(parts...)
}

// checkSplits asserts that every 1- and 2-cut split of in, and byte-by-byte
// feeding, give the same transcript as feeding in at once.
func checkSplits(t *testing.T, lim Limits, in []byte) string {
	t.Helper()
	want := transcript(t, NewParser(lim), whole(in))
	if got := transcript(t, NewParser(lim), byteByByte(in)); got != want {
		t.Fatalf("byte-by-byte:\n%s\nwhole:\n%s", got, want)
	}
	p := NewParser(lim)
	for i := 0; i <= len(in); i++ {
		p.Reset()
		if got := transcript(t, p, splitAt(in, i)); got != want {
			t.Fatalf("split at %d (%q | %q):\n%s\nwhole:\n%s", i, in[:i], in[i:], got, want)
		}
	}
	return want
}
