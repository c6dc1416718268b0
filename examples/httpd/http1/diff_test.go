package http1

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"testing"
)

// genRequest writes one random valid request to w and returns whether the
// connection persists after it.
func genRequest(r *rand.Rand, w *bytes.Buffer) {
	methods := []string{"GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND", "X-CUSTOM"}
	method := methods[r.IntN(len(methods))]
	const pathChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@"
	var target strings.Builder
	for range 1 + r.IntN(4) {
		target.WriteByte('/')
		for range r.IntN(12) {
			if r.IntN(20) == 0 {
				fmt.Fprintf(&target, "%%%02X", r.IntN(256))
				continue
			}
			target.WriteByte(pathChars[r.IntN(len(pathChars))])
		}
	}
	if r.IntN(2) == 0 {
		target.WriteString("?a=1&b=")
		for range r.IntN(10) {
			target.WriteByte(pathChars[r.IntN(len(pathChars))])
		}
	}
	minor := 1
	if r.IntN(5) == 0 {
		minor = 0
	}
	fmt.Fprintf(w, "%s %s HTTP/1.%d\r\n", method, target.String(), minor)
	var fields [][2]string
	if minor == 1 || r.IntN(2) == 0 {
		fields = append(fields, [2]string{"Host", fmt.Sprintf("h%d.example:%d", r.IntN(100), 1+r.IntN(65535))})
	}
	const nameChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"
	for range r.IntN(10) {
		var name strings.Builder
		name.WriteString("X-")
		for range 1 + r.IntN(10) {
			name.WriteByte(nameChars[r.IntN(len(nameChars))])
		}
		var val strings.Builder
		for range r.IntN(30) {
			switch r.IntN(12) {
			case 0:
				val.WriteByte(' ')
			case 1:
				val.WriteByte('\t')
			case 2:
				val.WriteByte(byte(0x80 + r.IntN(0x80))) // obs-text
			default:
				val.WriteByte(byte(0x21 + r.IntN(0x5e)))
			}
		}
		fields = append(fields, [2]string{name.String(), val.String()})
	}
	switch r.IntN(4) {
	case 0:
		fields = append(fields, [2]string{"Connection", "close"})
	case 1:
		fields = append(fields, [2]string{"connection", "Keep-Alive"})
	}
	var body []byte
	kind := r.IntN(3) // 0: none, 1: Content-Length, 2: chunked
	if minor == 0 && kind == 2 {
		kind = 1
	}
	if kind > 0 {
		body = make([]byte, r.IntN(300))
		for i := range body {
			body[i] = byte(r.IntN(256))
		}
	}
	switch kind {
	case 1:
		fields = append(fields, [2]string{"Content-Length", fmt.Sprint(len(body))})
	case 2:
		fields = append(fields, [2]string{"Transfer-Encoding", "chunked"})
	}
	r.Shuffle(len(fields), func(i, j int) { fields[i], fields[j] = fields[j], fields[i] })
	for _, f := range fields {
		ows := []string{"", " ", "  ", "\t"}
		fmt.Fprintf(w, "%s:%s%s%s\r\n", f[0], ows[r.IntN(4)], f[1], ows[r.IntN(4)])
	}
	w.WriteString("\r\n")
	if kind == 2 {
		for rest := body; ; {
			n := min(len(rest), r.IntN(64))
			fmt.Fprintf(w, "%x\r\n", n)
			if n == 0 {
				w.WriteString("\r\n")
				break
			}
			w.Write(rest[:n])
			w.WriteString("\r\n")
			rest = rest[n:]
		}
	} else {
		w.Write(body)
	}
}

// seen is one request as both parsers see it.
type seen struct {
	method, target, host string
	header               http.Header
	body                 []byte
	keepAlive            bool
	cl                   int64
}

func fromNetHTTP(req *http.Request) (seen, error) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return seen{}, err
	}
	h := req.Header.Clone()
	for _, k := range []string{"Host", "Transfer-Encoding", "Content-Length"} {
		delete(h, k)
	}
	if len(h) == 0 {
		h = nil
	}
	return seen{method: req.Method, target: req.RequestURI, host: req.Host, header: h,
		body: body, keepAlive: !req.Close, cl: req.ContentLength}, nil
}

func fromOurs(r *Request) seen {
	s := seen{method: string(r.Method), target: string(r.Target), host: string(r.Host),
		keepAlive: r.KeepAlive, cl: r.ContentLength}
	for _, h := range r.Headers {
		k := textproto.CanonicalMIMEHeaderKey(string(h.Name))
		if k == "Host" || k == "Transfer-Encoding" || k == "Content-Length" {
			continue
		}
		if s.header == nil {
			s.header = http.Header{}
		}
		s.header[k] = append(s.header[k], string(h.Value))
	}
	return s
}

func (s seen) String() string {
	keys := make([]string, 0, len(s.header))
	for k := range s.header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s %s host=%q ka=%v cl=%d body=%x", s.method, s.target, s.host, s.keepAlive, s.cl, s.body)
	for _, k := range keys {
		fmt.Fprintf(&sb, " %s=%q", k, s.header[k])
	}
	return sb.String()
}

// TestDifferentialNetHTTP parses random valid pipelines with Parser, fed in
// random pieces, and with net/http's ReadRequest, and wants the same
// requests: method, target, Host, fields, body, persistence.
func TestDifferentialNetHTTP(t *testing.T) {
	rounds := 400
	if testing.Short() {
		rounds = 50
	}
	total, bodies := 0, 0
	defer func() { t.Logf("%d requests compared, %d with a body", total, bodies) }()
	for seed := range uint64(rounds) {
		r := rand.New(rand.NewPCG(seed, 0x5eed))
		var in bytes.Buffer
		nreq := 1 + r.IntN(6)
		for range nreq {
			genRequest(r, &in)
		}
		raw := in.Bytes()

		var want []seen
		br := bufio.NewReader(bytes.NewReader(raw))
		for range nreq {
			req, err := http.ReadRequest(br)
			if err != nil {
				t.Fatalf("seed %d: net/http rejects a generated request: %v\n%q", seed, err, raw)
			}
			s, err := fromNetHTTP(req)
			if err != nil {
				t.Fatalf("seed %d: net/http body: %v", seed, err)
			}
			want = append(want, s)
			if req.Close {
				break
			}
		}

		var got []seen
		p := NewParser(Limits{})
		var cur seen
		closed := false
		for data := raw; len(data) > 0 && !closed; {
			chunk := data[:min(len(data), 1+r.IntN(200))]
			data = data[len(chunk):]
			chunk = bytes.Clone(chunk)
			for !closed {
				n, ev := p.Feed(chunk)
				chunk = chunk[n:]
				switch ev {
				case EvHead:
					cur = fromOurs(p.Request())
				case EvBody:
					cur.body = append(cur.body, p.Body()...)
				case EvEnd:
					got = append(got, cur)
				case EvError:
					t.Fatalf("seed %d: rejected with %d a request net/http accepts:\n%q", seed, p.Status(), raw)
				case EvClosed:
					closed = true
				}
				if ev == EvNeedMore {
					break
				}
			}
		}
		if len(got) != len(want) {
			t.Fatalf("seed %d: %d requests, net/http %d", seed, len(got), len(want))
		}
		for i := range got {
			total++
			if len(got[i].body) > 0 {
				bodies++
			}
			if g, w := got[i].String(), want[i].String(); g != w {
				t.Fatalf("seed %d request %d:\n got %s\nwant %s", seed, i, g, w)
			}
		}
	}
}
