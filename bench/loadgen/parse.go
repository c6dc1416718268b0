package loadgen

import (
	"bytes"
	"errors"
)

// Head is what the load generator needs from an HTTP/1.1 response head
// (RFC 9112 section 4 status line, section 6 message body length).
type Head struct {
	Len           int   // bytes of the head, CRLF CRLF included
	Status        int   // status code from the status line
	ContentLength int64 // -1 when the header is absent
	Close         bool  // "Connection: close": the server closes after this response
}

// Parse errors. A response that fails to parse ends its connection and is
// counted as an error of kind ErrMalformed.
var (
	errStatusLine = errors.New("malformed status line")
	errHeader     = errors.New("malformed header line")
	errLength     = errors.New("malformed or conflicting Content-Length")
	errNoLength   = errors.New("no Content-Length (chunked and read-until-close bodies are not supported)")
	errTooLong    = errors.New("response head too long")
)

// MaxHead bounds a response head; the servers under test send ~100 bytes.
const MaxHead = 8 << 10

// ParseHead parses the response head at the start of b. It returns a Head
// with Len 0 and no error when b does not hold a complete head yet. It does
// not allocate. Responses without Content-Length are refused: every server
// under test sends one, and without it a keep-alive response has no end
// (RFC 9112 section 6.3).
func ParseHead(b []byte) (Head, error) {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		if len(b) >= MaxHead {
			return Head{}, errTooLong
		}
		return Head{}, nil
	}
	h := Head{Len: end + 4, ContentLength: -1}
	head := b[:end+2] // every line, the last one included, ends in CRLF
	nl := bytes.Index(head, []byte("\r\n"))
	status, err := parseStatusLine(head[:nl])
	if err != nil {
		return Head{}, err
	}
	h.Status = status
	for rest := head[nl+2:]; len(rest) > 0; {
		nl := bytes.Index(rest, []byte("\r\n"))
		line := rest[:nl]
		rest = rest[nl+2:]
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || line[0] == ' ' || line[0] == '\t' {
			// No name, or obsolete line folding (RFC 9112 section 5.2).
			return Head{}, errHeader
		}
		name, value := line[:colon], trimOWS(line[colon+1:])
		switch {
		case equalFold(name, "content-length"):
			n, ok := parseDecimal(value)
			if !ok || (h.ContentLength >= 0 && h.ContentLength != n) {
				return Head{}, errLength
			}
			h.ContentLength = n
		case equalFold(name, "connection"):
			if hasToken(value, "close") {
				h.Close = true
			}
		case equalFold(name, "transfer-encoding"):
			return Head{}, errNoLength
		}
	}
	if h.ContentLength < 0 && !noBody(h.Status) {
		return Head{}, errNoLength
	}
	if h.ContentLength < 0 {
		h.ContentLength = 0
	}
	return h, nil
}

// parseStatusLine reads "HTTP/1.x SSS reason" (RFC 9112 section 4).
func parseStatusLine(l []byte) (int, error) {
	if len(l) < 12 || !bytes.HasPrefix(l, []byte("HTTP/1.")) || l[7] < '0' || l[7] > '9' || l[8] != ' ' {
		return 0, errStatusLine
	}
	code := 0
	for _, c := range l[9:12] {
		if c < '0' || c > '9' {
			return 0, errStatusLine
		}
		code = code*10 + int(c-'0')
	}
	if len(l) > 12 && l[12] != ' ' {
		return 0, errStatusLine
	}
	if code < 100 {
		return 0, errStatusLine
	}
	return code, nil
}

// noBody: 1xx, 204 and 304 responses end at their head (RFC 9112 section 6.3).
func noBody(status int) bool { return status < 200 || status == 204 || status == 304 }

func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// equalFold compares an ASCII header name with a lower-case constant.
func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// hasToken reports whether a comma-separated header value lists tok
// (case-insensitively, RFC 9110 section 5.6.1).
func hasToken(v []byte, tok string) bool {
	for len(v) > 0 {
		i := bytes.IndexByte(v, ',')
		var item []byte
		if i < 0 {
			item, v = v, nil
		} else {
			item, v = v[:i], v[i+1:]
		}
		if equalFold(trimOWS(item), tok) {
			return true
		}
	}
	return false
}
