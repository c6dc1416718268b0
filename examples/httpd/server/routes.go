package server

import (
	"bytes"

	"github.com/sluicenet/sluice/examples/httpd/http1"
)

// patternChars is one period of every response body: octet i of a body is
// patternChars[i%64], so a client can check each octet and its position.
const patternChars = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_"

// slab is the pattern repeated, shared read-only by every connection: body
// pieces are sub-slices of it (Transport.Write copies what it keeps).
var slab = bytes.Repeat([]byte(patternChars), (maxPiece+len(patternChars))/len(patternChars))

// maxPiece bounds one Write of a large body.
const maxPiece = 64 << 10

// Body returns the n-octet response body every resource answers with.
func Body(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = patternChars[i%len(patternChars)]
	}
	return b
}

// bodyAt is the piece of the pattern body starting at octet off, at most
// max octets long (and at most maxPiece).
func bodyAt(off, max int64) []byte {
	start := off % int64(len(patternChars))
	n := min(max, maxPiece)
	return slab[start : start+n]
}

// kind is how a response's body is made.
type kind uint8

const (
	kindPattern  kind = iota // 200, size octets of the pattern
	kindText                 // status with a short text body (404, 501)
	kindError                // the canned error response, then close
	kindContinue             // 100 Continue (interim)
)

var (
	textPlain   = []byte("text/plain")
	hdrText     = []http1.Header{{Name: []byte("Content-Type"), Value: textPlain}}
	msgNotFound = []byte("not found\n")
	msgNotImpl  = []byte("method not implemented\n")
)

// route decides the response to a request head: size of the pattern body,
// or a text status.
func (c *Conn) route(r *http1.Request) response {
	resp := response{conn: http1.ConnectionFor(r), noBody: string(r.Method) == "HEAD"}
	switch string(r.Method) {
	case "GET", "HEAD", "POST", "PUT":
	default:
		// RFC 9110 §9.1: an unrecognized or unimplemented method SHOULD
		// get 501. The request was well framed, so the connection stays.
		resp.kind, resp.status, resp.text = kindText, 501, msgNotImpl
		return resp
	}
	path := targetPath(r.Target)
	if string(path) == HealthPath {
		status, text := c.cfg.Health.answer()
		resp.kind, resp.status, resp.text = kindText, uint16(status), text
		return resp
	}
	size, ok := c.cfg.sizeFor(path)
	if !ok {
		resp.kind, resp.status, resp.text = kindText, 404, msgNotFound
		return resp
	}
	resp.kind, resp.status, resp.size = kindPattern, 200, size
	return resp
}

// targetPath is the path of a request-target: the query cut off, and an
// absolute-form target (RFC 9112 §3.2.2) reduced to its path.
func targetPath(t []byte) []byte {
	if len(t) > 0 && t[0] != '/' {
		// absolute-form: scheme "://" authority path; the parser
		// checked the form, so find the path after the authority.
		if i := bytes.Index(t, []byte("://")); i >= 0 {
			t = t[i+3:]
			if j := bytes.IndexByte(t, '/'); j >= 0 {
				t = t[j:]
			} else {
				t = []byte("/")
			}
		}
	}
	if i := bytes.IndexByte(t, '?'); i >= 0 {
		t = t[:i]
	}
	return t
}

// sizeFor maps a path to the body size it answers with.
func (cfg *Options) sizeFor(path []byte) (int64, bool) {
	if string(path) == "/" {
		return cfg.Size, true
	}
	var rest []byte
	switch {
	case bytes.HasPrefix(path, []byte("/size/")):
		rest = path[len("/size/"):]
	case bytes.HasPrefix(path, []byte("/bytes/")):
		rest = path[len("/bytes/"):]
	default:
		return 0, false
	}
	if len(rest) == 0 || len(rest) > 18 {
		return 0, false
	}
	var n int64
	for _, d := range rest {
		if d < '0' || d > '9' {
			return 0, false
		}
		n = n*10 + int64(d-'0')
	}
	if n > cfg.MaxSize {
		return 0, false
	}
	return n, true
}
