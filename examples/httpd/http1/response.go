package http1

import (
	"strconv"
	"time"
)

// TimeFormat is IMF-fixdate (RFC 9110 §5.6.7), always in GMT.
const TimeFormat = "Mon, 02 Jan 2006 15:04:05 GMT"

// Connection selects the Connection field a response carries.
type Connection uint8

const (
	// ConnDefault: no Connection field; HTTP/1.1 persists by default.
	ConnDefault Connection = iota
	// ConnClose: "Connection: close"; the server closes after this
	// response (RFC 9112 §9.6 SHOULD).
	ConnClose
	// ConnKeepAlive: "Connection: keep-alive", which an HTTP/1.0 client
	// needs to keep the connection (RFC 9112 §C.2.2).
	ConnKeepAlive
)

// ConnectionFor picks the Connection mode answering r.
func ConnectionFor(r *Request) Connection {
	switch {
	case !r.KeepAlive:
		return ConnClose
	case r.Minor == 0:
		return ConnKeepAlive
	}
	return ConnDefault
}

// Writer encodes responses. It holds the Server field and the Date field
// cached for the current second. One Writer per loop (it is not safe for
// concurrent use); its methods allocate nothing when dst has room.
type Writer struct {
	server  []byte // "Server: x\r\n", or empty
	dateSec int64
	dateLen int // 0 until SetTime
	date    [len("Date: ") + len(TimeFormat) + 2]byte
}

// NewWriter returns a Writer sending "Server: server" (none if empty;
// CR, LF and other controls are dropped from it).
func NewWriter(server string) *Writer {
	w := &Writer{}
	if server != "" {
		w.server = append(w.server, "Server: "...)
		for i := 0; i < len(server); i++ {
			if c := server[i]; c >= 0x20 && c != 0x7f {
				w.server = append(w.server, c)
			}
		}
		w.server = append(w.server, "\r\n"...)
	}
	return w
}

// SetTime sets the clock the Date field shows (RFC 9110 §6.6.1). It
// re-formats only when the second changes, so calling it per batch of
// requests is cheap. Until it is first called no Date field is sent.
func (w *Writer) SetTime(now time.Time) {
	sec := now.Unix()
	if w.dateLen != 0 && sec == w.dateSec {
		return
	}
	w.dateSec = sec
	b := append(w.date[:0], "Date: "...)
	b = now.UTC().AppendFormat(b, TimeFormat)
	b = append(b, "\r\n"...)
	w.dateLen = len(b)
}

// Date returns the cached Date field line ("Date: ...\r\n"), empty before
// SetTime. Valid until the next SetTime.
func (w *Writer) Date() []byte { return w.date[:w.dateLen] }

// AppendHead appends a status line and header section to dst:
// Date, Server, the extra fields hdrs, Content-Length (when
// contentLength >= 0 and the status allows one), the Connection field for
// conn, and the empty line. A status outside 100-999 is sent as 500. Extra
// fields whose name is not a token or whose value holds a control other
// than HTAB are skipped: that would split the response (RFC 9112 §11.1).
// For a HEAD request, append the head a GET would get and no body.
func (w *Writer) AppendHead(dst []byte, status int, conn Connection, contentLength int64, hdrs ...Header) []byte {
	if status < 100 || status > 999 {
		status = 500
	}
	dst = append(dst, "HTTP/1.1 "...)
	dst = append(dst, byte('0'+status/100), byte('0'+status/10%10), byte('0'+status%10), ' ')
	dst = append(dst, StatusText(status)...)
	dst = append(dst, "\r\n"...)
	dst = append(dst, w.date[:w.dateLen]...)
	dst = append(dst, w.server...)
	for i := range hdrs {
		h := &hdrs[i]
		if !validField(h.Name, h.Value) {
			continue
		}
		dst = append(dst, h.Name...)
		dst = append(dst, ": "...)
		dst = append(dst, h.Value...)
		dst = append(dst, "\r\n"...)
	}
	// No Content-Length in 1xx and 204 responses (RFC 9110 §8.6 MUST NOT).
	if contentLength >= 0 && status >= 200 && status != 204 {
		dst = append(dst, "Content-Length: "...)
		dst = strconv.AppendInt(dst, contentLength, 10)
		dst = append(dst, "\r\n"...)
	}
	switch conn {
	case ConnClose:
		dst = append(dst, "Connection: close\r\n"...)
	case ConnKeepAlive:
		dst = append(dst, "Connection: keep-alive\r\n"...)
	}
	return append(dst, "\r\n"...)
}

// AppendResponse appends a complete response with body (Content-Type
// omitted when contentType is empty). 1xx, 204 and 304 responses never
// carry a body (RFC 9110 §15.2, §15.3.5, §15.4.5), so body is dropped.
func (w *Writer) AppendResponse(dst []byte, status int, conn Connection, contentType, body []byte) []byte {
	if status < 200 || status == 204 || status == 304 {
		body = nil
	}
	if len(contentType) > 0 {
		dst = w.AppendHead(dst, status, conn, int64(len(body)), Header{Name: contentTypeName, Value: contentType})
	} else {
		dst = w.AppendHead(dst, status, conn, int64(len(body)))
	}
	return append(dst, body...)
}

var (
	contentTypeName = []byte("Content-Type")
	textPlain       = []byte("text/plain; charset=utf-8")
)

// AppendError appends the canned response for a status the Parser
// reports (400, 413, 414, 431, 501, 505; any other code works too): a short
// text body and "Connection: close", since after a rejected request the
// framing of the rest of the connection is unknown.
func (w *Writer) AppendError(dst []byte, status int) []byte {
	if status < 100 || status > 999 {
		status = 500
	}
	text := StatusText(status)
	dst = w.AppendHead(dst, status, ConnClose, int64(len(text)+5), Header{Name: contentTypeName, Value: textPlain})
	dst = append(dst, byte('0'+status/100), byte('0'+status/10%10), byte('0'+status%10), ' ')
	dst = append(dst, text...)
	return append(dst, '\n')
}

// TransferEncodingChunked is the extra field for AppendHead (with
// contentLength -1) that announces a chunked response body, written with
// AppendChunk and AppendLastChunk. Only for requests with Minor >= 1
// (RFC 9112 §6.1: never send chunked to an HTTP/1.0 recipient).
var TransferEncodingChunked = Header{Name: []byte("Transfer-Encoding"), Value: []byte("chunked")}

// AppendChunk appends data as one chunk (RFC 9112 §7.1); empty data
// appends nothing, since a zero-size chunk would end the body.
func AppendChunk(dst, data []byte) []byte {
	if len(data) == 0 {
		return dst
	}
	dst = strconv.AppendUint(dst, uint64(len(data)), 16)
	dst = append(dst, "\r\n"...)
	dst = append(dst, data...)
	return append(dst, "\r\n"...)
}

// AppendLastChunk ends a chunked body: last-chunk and an empty trailer
// section.
func AppendLastChunk(dst []byte) []byte { return append(dst, "0\r\n\r\n"...) }

// AppendContinue appends "100 Continue" for a request with Expect100
// (RFC 9110 §10.1.1).
func AppendContinue(dst []byte) []byte {
	return append(dst, "HTTP/1.1 100 Continue\r\n\r\n"...)
}

func validField(name, value []byte) bool {
	if len(name) == 0 {
		return false
	}
	for _, c := range name {
		if !isTchar[c] {
			return false
		}
	}
	for _, c := range value {
		if !isFieldChar[c] {
			return false
		}
	}
	return true
}

// StatusText is the reason phrase for code, or "" (the reason-phrase may
// be empty, RFC 9112 §4).
func StatusText(code int) string {
	switch code {
	case 100:
		return "Continue"
	case 101:
		return "Switching Protocols"
	case 200:
		return "OK"
	case 201:
		return "Created"
	case 202:
		return "Accepted"
	case 204:
		return "No Content"
	case 206:
		return "Partial Content"
	case 301:
		return "Moved Permanently"
	case 302:
		return "Found"
	case 304:
		return "Not Modified"
	case 307:
		return "Temporary Redirect"
	case 308:
		return "Permanent Redirect"
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 408:
		return "Request Timeout"
	case 411:
		return "Length Required"
	case 413:
		return "Content Too Large"
	case 414:
		return "URI Too Long"
	case 417:
		return "Expectation Failed"
	case 429:
		return "Too Many Requests"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 501:
		return "Not Implemented"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Unavailable"
	case 505:
		return "HTTP Version Not Supported"
	}
	return ""
}
