package http1

import (
	"bufio"
	"bytes"
	"net/http"
	"testing"
)

// FuzzDifferential: whatever Parser accepts, net/http's ReadRequest must
// accept too and read the same way (method, target, fields, body,
// persistence). Parser is stricter than net/http in places (bare LF, for
// one), so the converse is not asserted. Divergences that are decisions
// are listed in acceptedByUsOnly.
func FuzzDifferential(f *testing.F) {
	for _, tc := range parseCases {
		if tc.status == 0 {
			f.Add([]byte(tc.in))
		}
	}
	f.Add([]byte(pipeline))
	f.Add([]byte(typicalGET))
	f.Add([]byte(postBody))
	f.Fuzz(func(t *testing.T, in []byte) {
		p := NewParser(Limits{})
		var ours seen
		data, complete := in, false
		for !complete {
			n, ev := p.Feed(data)
			data = data[n:]
			switch ev {
			case EvHead:
				ours = fromOurs(p.Request())
			case EvBody:
				ours.body = append(ours.body, p.Body()...)
			case EvEnd:
				complete = true
			}
			if ev == EvNeedMore || ev == EvError || ev == EvClosed {
				break
			}
		}
		if !complete {
			return
		}
		head := p.Request()
		if acceptedByUsOnly(head) {
			return
		}
		// RFC 9112 §2.2: we skip empty lines before a request-line (SHOULD);
		// net/http's ReadRequest does not.
		trimmed := in
		for bytes.HasPrefix(trimmed, []byte("\r\n")) {
			trimmed = trimmed[2:]
		}
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(trimmed)))
		if err != nil {
			t.Fatalf("we accept, net/http rejects (%v):\n%q", err, in)
		}
		theirs, err := fromNetHTTP(req)
		if err != nil && bytes.Contains([]byte(err.Error()), []byte("invalid byte in chunk length")) &&
			(bytes.Contains(in, []byte(" ;")) || bytes.Contains(in, []byte("\t;"))) {
			// RFC 9112 §7.1.1 allows BWS before ";" in a chunk-size line;
			// net/http does not.
			return
		}
		if err != nil {
			t.Fatalf("net/http body: %v\n%q", err, in)
		}
		if len(head.Target) == 0 || head.Target[0] != '/' {
			theirs.host = ours.host // net/http takes Host from an absolute target
		}
		if g, w := ours.String(), theirs.String(); g != w {
			t.Fatalf("%q:\n got %s\nwant %s", in, g, w)
		}
	})
}

// acceptedByUsOnly lists requests Parser accepts on purpose and net/http
// does not read the same way.
func acceptedByUsOnly(r *Request) bool {
	// net/http accepts only a Transfer-Encoding of exactly "chunked";
	// RFC 9110 §5.6.1 lets list elements be empty (", chunked").
	if te := r.Header("Transfer-Encoding"); te != nil && !equalFold(te, "chunked") {
		return true
	}
	for _, h := range r.Headers {
		if equalFold(h.Name, "transfer-encoding") && !equalFold(h.Value, "chunked") {
			return true
		}
	}
	return false
}
