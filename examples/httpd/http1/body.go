package http1

// Chunked body sub-states (RFC 9112 §7.1):
//
//	chunked-body = *chunk last-chunk trailer-section CRLF
//	chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
const (
	csSize        uint8 = iota // chunk-size hex digits
	csSizeBWS                  // BWS after chunk-size, before ";"
	csExt                      // chunk-ext (skipped) up to CR
	csSizeLF                   // LF after the size line
	csData                     // chunk-data
	csDataCR                   // CR after chunk-data
	csDataLF                   // LF after chunk-data
	csTrailer                  // start of a trailer line, or the final CRLF
	csTrailerName              // field-name of a trailer field line
	csTrailerLine              // field-value of a trailer field line (discarded)
	csTrailerLF                // LF ending a trailer field line
	csEndLF                    // LF of the final CRLF
)

// maxChunkExt bounds the extension bytes of one chunk-size line: they are
// skipped, and a peer must not make us skip forever.
const maxChunkExt = 4096

// maxChunkDigits keeps chunk sizes below 2^60 (no int64 overflow).
const maxChunkDigits = 15

// feedBody delivers a Content-Length body (§6.2) as it arrives.
func (p *Parser) feedBody(b []byte) (int, Event) {
	if p.remaining == 0 {
		return 0, p.end()
	}
	if len(b) == 0 {
		return 0, EvNeedMore
	}
	n := len(b)
	if int64(n) > p.remaining {
		n = int(p.remaining)
	}
	p.remaining -= int64(n)
	p.body = b[:n:n]
	return n, EvBody
}

// feedChunked decodes the chunked coding byte by byte for framing, and
// hands chunk-data out as slices of b.
func (p *Parser) feedChunked(b []byte) (int, Event) {
	i := 0
	for i < len(b) {
		c := b[i]
		switch p.cs {
		case csSize:
			if h := unhex(c); h >= 0 {
				if p.digits == maxChunkDigits {
					return p.fail(400)
				}
				p.chunkSize = p.chunkSize<<4 | h
				p.digits++
				break
			}
			if p.digits == 0 {
				return p.fail(400)
			}
			switch c {
			case '\r':
				p.cs = csSizeLF
			case ';':
				p.cs = csExt
			case ' ', '\t': // BWS, which only a chunk-ext may follow (§7.1.1)
				p.cs = csSizeBWS
			default:
				return p.fail(400)
			}
		case csSizeBWS:
			switch c {
			case ';':
				p.cs = csExt
			case ' ', '\t':
				p.extLen++
				if p.extLen > maxChunkExt {
					return p.fail(400)
				}
			default:
				return p.fail(400) // "1 \r\n", "A 00": not chunk-size [chunk-ext]
			}
		case csExt:
			if c == '\r' {
				p.cs = csSizeLF
				break
			}
			p.extLen++
			if c != '\t' && (c < 0x20 || c == 0x7f) || p.extLen > maxChunkExt {
				return p.fail(400)
			}
		case csSizeLF:
			if c != '\n' {
				return p.fail(400) // bare CR (§2.2)
			}
			if p.chunkSize == 0 {
				p.cs = csTrailer
				break
			}
			if max := p.lim.MaxBodyBytes; max > 0 && p.total+p.chunkSize > max {
				return p.fail(413)
			}
			p.total += p.chunkSize
			p.remaining = p.chunkSize
			p.cs = csData
		case csData:
			n := len(b) - i
			if int64(n) > p.remaining {
				n = int(p.remaining)
			}
			p.remaining -= int64(n)
			if p.remaining == 0 {
				p.cs = csDataCR
			}
			p.body = b[i : i+n : i+n]
			return i + n, EvBody
		case csDataCR:
			if c != '\r' {
				return p.fail(400)
			}
			p.cs = csDataLF
		case csDataLF:
			if c != '\n' {
				return p.fail(400)
			}
			p.cs = csSize
			p.chunkSize, p.digits, p.extLen = 0, 0, 0
		case csTrailer:
			if c == '\r' {
				p.cs = csEndLF
				break
			}
			if !isTchar[c] {
				return p.fail(400) // not a field-line; obs-fold (§5.2)
			}
			p.cs = csTrailerName
		case csTrailerName:
			if c == ':' {
				p.cs = csTrailerLine
			} else if !isTchar[c] {
				return p.fail(400) // includes whitespace before the colon (§5.1)
			}
		case csTrailerLine:
			if c == '\r' {
				p.cs = csTrailerLF
			} else if !isFieldChar[c] {
				return p.fail(400)
			}
		case csTrailerLF:
			if c != '\n' {
				return p.fail(400)
			}
			p.cs = csTrailer
		case csEndLF:
			if c != '\n' {
				return p.fail(400)
			}
			return i + 1, p.end()
		}
		if p.cs >= csTrailer {
			// The trailer section is bounded like a head (RFC 6585 §5).
			p.trailer++
			if p.trailer > p.lim.MaxHeaderBytes {
				return p.fail(431)
			}
		}
		i++
	}
	return i, EvNeedMore
}
