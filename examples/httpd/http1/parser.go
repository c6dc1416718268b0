package http1

import "bytes"

// Event is what one Feed call produced.
type Event uint8

const (
	// EvNeedMore: every byte given was consumed; feed more.
	EvNeedMore Event = iota
	// EvHead: a request head is complete; see Parser.Request.
	EvHead
	// EvBody: Parser.Body holds the next piece of the current body.
	EvBody
	// EvEnd: the current request is complete.
	EvEnd
	// EvError: the input is rejected; answer Parser.Status and close.
	EvError
	// EvClosed: the last request did not persist (RFC 9112 §9.6);
	// nothing after it is parsed.
	EvClosed
)

var eventNames = [...]string{"NeedMore", "Head", "Body", "End", "Error", "Closed"}

func (e Event) String() string {
	if int(e) < len(eventNames) {
		return eventNames[e]
	}
	return "Event(?)"
}

// Limits bound what one request may make the parser hold. Zero fields take
// the defaults.
type Limits struct {
	// MaxHeaderBytes bounds request-line + field lines + their CRLFs and
	// the final CRLF (and, separately, a chunked body's trailer section).
	// Beyond it: 431. Default 8192. It is also the size of the per-parser
	// buffer that holds a head split across chunks.
	MaxHeaderBytes int
	// MaxHeaders bounds the number of field lines (431). Default 64.
	MaxHeaders int
	// MaxTargetBytes bounds the request-target (414). Default 4096.
	MaxTargetBytes int
	// MaxBodyBytes bounds a body, Content-Length or chunked (413).
	// Default 0: unlimited.
	MaxBodyBytes int64
}

// DefaultLimits are the limits zero fields fall back to.
var DefaultLimits = Limits{MaxHeaderBytes: 8192, MaxHeaders: 64, MaxTargetBytes: 4096}

func (l Limits) withDefaults() Limits {
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = DefaultLimits.MaxHeaderBytes
	}
	if l.MaxHeaderBytes > 1<<30 {
		l.MaxHeaderBytes = 1 << 30 // offsets are int32
	}
	if l.MaxHeaders <= 0 {
		l.MaxHeaders = DefaultLimits.MaxHeaders
	}
	if l.MaxTargetBytes <= 0 {
		l.MaxTargetBytes = DefaultLimits.MaxTargetBytes
	}
	if l.MaxBodyBytes < 0 {
		l.MaxBodyBytes = 0
	}
	return l
}

// Header is one field line. Name keeps the case it was sent with.
type Header struct {
	Name, Value []byte
}

// Request is a parsed request head. Its byte slices are valid until the
// next Feed or Reset (see the package doc); its other fields until the next
// EvHead or Reset.
type Request struct {
	Method []byte
	Target []byte
	// Minor is the minor HTTP version (major is always 1): 0 or >= 1.
	Minor int
	// Headers in arrival order, OWS trimmed from values.
	Headers []Header
	// Host is the Host field value (nil if absent, HTTP/1.0 only). With
	// an absolute-form target the target's authority wins (RFC 9112
	// §3.2.2); this parser does not parse the target.
	Host []byte
	// ContentLength is the body length, 0 without a body, -1 when Chunked.
	ContentLength int64
	Chunked       bool
	// KeepAlive: the connection persists after this request (RFC 9112 §9.3).
	KeepAlive bool
	// Expect100: the client sent "Expect: 100-continue" and waits for a
	// 100 (Continue) or a final status before sending the body.
	Expect100 bool
}

// HasBody reports whether body events follow the head.
func (r *Request) HasBody() bool { return r.Chunked || r.ContentLength > 0 }

// Header returns the value of the first field line named name (ASCII
// case-insensitive), or nil.
func (r *Request) Header(name string) []byte {
	for i := range r.Headers {
		h := &r.Headers[i]
		if len(h.Name) != len(name) {
			continue
		}
		eq := true
		for j := 0; j < len(name); j++ {
			if lower(h.Name[j]) != lower(name[j]) {
				eq = false
				break
			}
		}
		if eq {
			return h.Value
		}
	}
	return nil
}

const (
	stHead uint8 = iota
	stBody
	stChunked
	stClosed
	stError
)

// fieldPos locates a field line's name and value relative to the head start.
type fieldPos struct{ ns, ne, vs, ve int32 }

// Parser is an incremental HTTP/1.1 request parser for one connection.
// The zero value is not ready: use NewParser or Init.
type Parser struct {
	lim    Limits
	state  uint8
	status int

	req Request
	hdr []Header   // backing array of req.Headers, cap MaxHeaders
	pos []fieldPos // offsets of each field line, len MaxHeaders

	// buf holds a head that arrived split; nil until the first one.
	buf   []byte
	inBuf bool

	// Head progress. Offsets are relative to the head start, so they are
	// the same whether the head is read in place or from buf.
	pendingCR     bool // a CR (of a leading empty line) ended the last chunk
	lineStart     int  // start of the first unparsed line
	scanned       int  // LF searched up to here
	methodChecked int  // request-line prefix validated up to here
	haveLine      bool // request-line parsed
	minor         int
	nHdr          int
	mS, mE        int32 // method
	tS, tE        int32 // target
	hostS, hostE  int32
	hostCount     int
	cl            int64
	clLen         int
	clSeen        bool
	teSeen        bool
	teChunked     int  // "chunked" codings seen
	teLastChunked bool // the last coding seen is chunked
	teBad         bool // malformed or misordered transfer-coding list: 400
	teUnknown     bool // a coding other than chunked: 501
	connClose     bool
	connKeepAlive bool
	expect100     bool

	// Body progress.
	remaining int64 // of Content-Length, or of the current chunk
	total     int64 // chunked: data bytes so far
	cs        uint8 // chunked sub-state
	chunkSize int64
	digits    int
	extLen    int
	trailer   int
	body      []byte
}

// NewParser returns a parser with the given limits (zero fields: defaults).
func NewParser(lim Limits) *Parser {
	p := new(Parser)
	p.Init(lim)
	return p
}

// Init prepares p (e.g. one embedded in a connection slab). It allocates
// the header arrays; the split-head buffer comes on first need.
func (p *Parser) Init(lim Limits) {
	lim = lim.withDefaults()
	*p = Parser{lim: lim}
	p.hdr = make([]Header, lim.MaxHeaders)
	p.pos = make([]fieldPos, lim.MaxHeaders)
	p.beginHead()
}

// Reset makes p ready for a new connection, keeping its buffers.
func (p *Parser) Reset() {
	p.state = stHead
	p.status = 0
	p.req = Request{}
	p.body = nil
	p.beginHead()
}

// Release drops the split-head buffer when p is idle, so a connection
// that stays idle costs only the Parser itself; the buffer is made again on
// the next split head. It reports whether it released anything.
func (p *Parser) Release() bool {
	if !p.Idle() || p.buf == nil {
		return false
	}
	p.buf = nil
	return true
}

// Limits returns the limits in force, defaults applied.
func (p *Parser) Limits() Limits { return p.lim }

// Request is the head reported by the last EvHead.
func (p *Parser) Request() *Request { return &p.req }

// Body is the piece reported by the last EvBody: a sub-slice of the slice
// given to that Feed call.
func (p *Parser) Body() []byte { return p.body }

// Status is the HTTP status code of the rejection after EvError: 400, 413,
// 414, 431, 501 or 505. It is 0 otherwise.
func (p *Parser) Status() int { return p.status }

// Idle reports whether p is between requests with no byte of the next one
// held: a server shutting down may close such a connection at once
// (RFC 9112 §9.6).
func (p *Parser) Idle() bool {
	return p.state == stHead && !p.inBuf && !p.pendingCR
}

// Feed parses the next bytes of the connection. It consumes b[:n]
// (n <= len(b)) and reports one event; the caller passes b[n:] next.
// EvNeedMore means all of b was consumed; with EvError and EvClosed n is 0
// and every later Feed returns the same event (until Reset).
func (p *Parser) Feed(b []byte) (n int, ev Event) {
	switch p.state {
	case stHead:
		return p.feedHead(b)
	case stBody:
		return p.feedBody(b)
	case stChunked:
		return p.feedChunked(b)
	case stClosed:
		return 0, EvClosed
	}
	return 0, EvError
}

func (p *Parser) fail(status int) (int, Event) {
	p.state = stError
	p.status = status
	p.body = nil
	return 0, EvError
}

func (p *Parser) beginHead() {
	p.inBuf = false
	p.pendingCR = false
	p.lineStart, p.scanned, p.methodChecked = 0, 0, 0
	p.haveLine = false
	p.nHdr = 0
	p.hostCount = 0
	p.cl, p.clSeen = 0, false
	p.teSeen, p.teChunked, p.teLastChunked, p.teBad, p.teUnknown = false, 0, false, false, false
	p.connClose, p.connKeepAlive, p.expect100 = false, false, false
}

func (p *Parser) feedHead(b []byte) (int, Event) {
	max := p.lim.MaxHeaderBytes
	if p.inBuf {
		old := len(p.buf)
		k := min(len(b), max-old)
		p.buf = append(p.buf, b[:k]...)
		done, end, st := p.parseLines(p.buf, len(p.buf))
		if st != 0 {
			return p.fail(st)
		}
		if !done {
			return k, EvNeedMore
		}
		p.buf = p.buf[:end]
		p.startBody(p.buf)
		return end - old, EvHead
	}

	// Skip empty lines before the request-line (RFC 9112 §2.2).
	n := 0
	if p.pendingCR {
		if len(b) == 0 {
			return 0, EvNeedMore
		}
		if b[0] != '\n' {
			return p.fail(400) // bare CR (§2.2)
		}
		p.pendingCR = false
		n = 1
	}
	for n+1 < len(b) && b[n] == '\r' && b[n+1] == '\n' {
		n += 2
	}
	if n == len(b)-1 && b[n] == '\r' {
		p.pendingCR = true
		return len(b), EvNeedMore
	}
	head := b[n:]
	if len(head) == 0 {
		return n, EvNeedMore
	}
	done, end, st := p.parseLines(head, min(len(head), max))
	if st != 0 {
		return p.fail(st)
	}
	if done {
		p.startBody(head[:end])
		return n + end, EvHead
	}
	// The head continues in a later chunk: keep what came so far.
	if p.buf == nil {
		p.buf = make([]byte, 0, max)
	}
	p.buf = append(p.buf[:0], head...)
	p.inBuf = true
	return len(b), EvNeedMore
}

// parseLines parses the complete lines of base[:end] not parsed yet. base
// starts at the head start; end reaching MaxHeaderBytes means the head may
// not grow. It reports whether the head is complete and where it ends, or a
// rejection status.
func (p *Parser) parseLines(base []byte, end int) (done bool, headEnd int, status int) {
	for {
		i := bytes.IndexByte(base[p.scanned:end], '\n')
		if i < 0 {
			p.scanned = end
			atLimit := end >= p.lim.MaxHeaderBytes
			if !p.haveLine {
				if st := p.partialRequestLine(base[p.lineStart:end], atLimit); st != 0 {
					return false, 0, st
				}
			}
			if atLimit {
				return false, 0, 431
			}
			return false, 0, 0
		}
		lf := p.scanned + i
		line := base[p.lineStart:lf]
		if len(line) == 0 || line[len(line)-1] != '\r' {
			return false, 0, 400 // bare LF (§2.2, decision in doc.go)
		}
		line = line[:len(line)-1]
		switch {
		case !p.haveLine:
			if st := p.requestLine(line, p.lineStart); st != 0 {
				return false, 0, st
			}
			p.haveLine = true
		case len(line) == 0:
			return true, lf + 1, p.finishHead()
		default:
			if st := p.fieldLine(line, p.lineStart); st != 0 {
				return false, 0, st
			}
		}
		p.lineStart = lf + 1
		p.scanned = lf + 1
	}
}

// fieldLine parses field-name ":" OWS field-value OWS (§5) and records the
// fields that decide framing and persistence.
func (p *Parser) fieldLine(line []byte, off int) int {
	if line[0] == ' ' || line[0] == '\t' {
		return 400 // obs-fold (§5.2) or whitespace after the request-line (§2.2)
	}
	if p.nHdr >= p.lim.MaxHeaders {
		return 431
	}
	n := 0
	for n < len(line) && isTchar[line[n]] {
		n++
	}
	if n == 0 || n == len(line) || line[n] != ':' {
		return 400 // includes whitespace before the colon (§5.1 MUST)
	}
	if !validFieldValue(line[n+1:]) {
		return 400 // CTL in value (RFC 9110 §5.5)
	}
	vs := n + 1
	for vs < len(line) && (line[vs] == ' ' || line[vs] == '\t') {
		vs++
	}
	ve := len(line)
	for ve > vs && (line[ve-1] == ' ' || line[ve-1] == '\t') {
		ve--
	}
	p.pos[p.nHdr] = fieldPos{int32(off), int32(off + n), int32(off + vs), int32(off + ve)}
	p.nHdr++
	return p.special(line[:n], line[vs:ve], off+vs, off+ve)
}

func (p *Parser) special(name, v []byte, vs, ve int) int {
	switch len(name) {
	case 4:
		if !equalFold(name, "host") {
			return 0
		}
		p.hostCount++
		if p.hostCount > 1 {
			return 400 // §3.2 MUST
		}
		if len(v) > 0 && !validHostPort(v, false) {
			return 400
		}
		p.hostS, p.hostE = int32(vs), int32(ve)
	case 6:
		if equalFold(name, "expect") && equalFold(v, "100-continue") {
			p.expect100 = true
		}
	case 10:
		if !equalFold(name, "connection") {
			return 0
		}
		for rest := v; len(rest) > 0; {
			var e []byte
			e, rest = nextElement(rest)
			switch {
			case equalFold(e, "close"):
				p.connClose = true
			case equalFold(e, "keep-alive"):
				p.connKeepAlive = true
			}
		}
	case 14:
		if !equalFold(name, "content-length") {
			return 0
		}
		if len(v) == 0 || len(v) > 18 {
			return 400 // §6.3 item 5; 18 digits keep it in int64
		}
		var n int64
		for _, c := range v {
			if c < '0' || c > '9' {
				return 400
			}
			n = n*10 + int64(c-'0')
		}
		// Repeats must be identical field values (RFC 9110 §8.6), not
		// just equal numbers: "2" and "02" differ. All digits, so equal
		// value and length mean equal bytes.
		if p.clSeen && (n != p.cl || len(v) != p.clLen) {
			return 400
		}
		p.cl, p.clLen, p.clSeen = n, len(v), true
	case 17:
		if !equalFold(name, "transfer-encoding") {
			return 0
		}
		p.teSeen = true
		p.transferCodings(v)
	}
	return 0
}

// transferCodings folds one Transfer-Encoding field line into the list
// state; several lines form one list (RFC 9110 §5.3).
func (p *Parser) transferCodings(v []byte) {
	for rest := v; len(rest) > 0; {
		var e []byte
		e, rest = nextElement(rest)
		if len(e) == 0 {
			continue // empty list elements are allowed (RFC 9110 §5.6.1)
		}
		name, params := e, false
		if i := bytes.IndexByte(e, ';'); i >= 0 {
			name, params = trimOWS(e[:i]), true
		}
		for _, c := range name {
			if !isTchar[c] {
				p.teBad = true
			}
		}
		if equalFold(name, "chunked") {
			if params || p.teChunked > 0 {
				p.teBad = true // chunked takes no parameters, and is applied once (§7)
			}
			p.teChunked++
			p.teLastChunked = true
			continue
		}
		p.teUnknown = true
		p.teLastChunked = false
	}
}

// finishHead decides framing and persistence once the head is complete.
func (p *Parser) finishHead() int {
	if p.minor >= 1 && p.hostCount == 0 {
		return 400 // §3.2 MUST
	}
	if p.teSeen {
		switch {
		case p.minor == 0:
			return 400 // §6.1: faulty framing in HTTP/1.0
		case p.clSeen:
			return 400 // §6.3 item 3, §11.2
		case p.teBad || !p.teLastChunked:
			return 400 // §6.3 item 4
		case p.teUnknown:
			return 501 // §6.1
		}
	} else if p.clSeen && p.lim.MaxBodyBytes > 0 && p.cl > p.lim.MaxBodyBytes {
		return 413
	}
	return 0
}

// startBody materialises the request from base (the complete head) and
// moves to the body state.
func (p *Parser) startBody(base []byte) {
	r := &p.req
	r.Minor = p.minor
	r.Method = base[p.mS:p.mE:p.mE]
	r.Target = base[p.tS:p.tE:p.tE]
	for i := 0; i < p.nHdr; i++ {
		f := p.pos[i]
		p.hdr[i] = Header{Name: base[f.ns:f.ne:f.ne], Value: base[f.vs:f.ve:f.ve]}
	}
	r.Headers = p.hdr[:p.nHdr:p.nHdr]
	r.Host = nil
	if p.hostCount > 0 {
		r.Host = base[p.hostS:p.hostE:p.hostE]
	}
	r.Expect100 = p.expect100
	if r.Minor == 0 {
		r.KeepAlive = p.connKeepAlive && !p.connClose
	} else {
		r.KeepAlive = !p.connClose
	}
	p.inBuf = false
	p.body = nil
	if p.teSeen {
		r.Chunked, r.ContentLength = true, -1
		p.state = stChunked
		p.cs = csSize
		p.chunkSize, p.digits, p.extLen, p.trailer, p.total = 0, 0, 0, 0, 0
		return
	}
	r.Chunked, r.ContentLength = false, p.cl
	p.remaining = p.cl
	p.state = stBody
}

// end completes the current request.
func (p *Parser) end() Event {
	p.body = nil
	if !p.req.KeepAlive {
		p.state = stClosed
		return EvEnd
	}
	p.state = stHead
	p.beginHead()
	return EvEnd
}
