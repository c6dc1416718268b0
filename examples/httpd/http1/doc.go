// Package http1 is the sans-I/O half of examples/httpd: an incremental
// HTTP/1.1 request parser and a response encoder over caller-owned byte
// slices. It performs no I/O, starts no goroutine, reads no clock and, in
// steady state, allocates nothing, so the server built on sluice's callback
// API is a thin shell: OnData feeds bytes to a Parser, answers each request
// by appending to an output buffer with a Writer, and closes when told to.
//
// # Parsing
//
// A Parser is fed TCP payload as it arrives; a chunk may split anywhere.
// Feed returns how many bytes it consumed and one Event:
//
//	for {
//		n, ev := p.Feed(data)
//		data = data[n:]
//		switch ev {
//		case http1.EvHead:  // p.Request() is a new request's head
//		case http1.EvBody:  // p.Body() is the next piece of its body
//		case http1.EvEnd:   // the request (head and body) is complete
//		case http1.EvError: // answer p.Status() (Writer.AppendError) and close
//		case http1.EvClosed: // the last request said close: send, then close
//		}
//		if ev == http1.EvNeedMore || ev == http1.EvError || ev == http1.EvClosed {
//			break // EvNeedMore: all of data was consumed
//		}
//	}
//
// Pipelined requests in one chunk come out one after another. EvEnd is
// always reported, also for a request without a body (Feed may return it
// with n == 0, even when data is empty).
//
// Lifetime of the views: Request's byte slices (method, target, header
// names and values) point either into the slice given to the Feed call that
// returned EvHead, or — when the head arrived split over several chunks —
// into the Parser's own head buffer (MaxHeaderBytes, allocated on the first
// split head of a connection and reused after). Either way they are valid
// until the next call to Feed or Reset, and the caller must not modify them.
// Body() is always a sub-slice of the slice given to that Feed call. A
// handler that needs a value longer must copy it. In particular the body
// (and so EvEnd) may arrive in a later Feed than the head: route on method
// and target at EvHead. Request's scalar fields (Minor, KeepAlive,
// ContentLength, Chunked, Expect100) stay valid until the next EvHead, so
// ConnectionFor works at EvEnd.
//
// EvError can also follow an EvHead, when a chunked body is malformed or
// exceeds MaxBodyBytes: if no response was sent for that request yet, send
// the error response; either way, close.
//
// # Decisions (RFC 9112 unless noted)
//
//   - Line endings are strictly CRLF. A bare LF is not accepted as a line
//     terminator (§2.2 allows either; accepting LF where a proxy in front does
//     not is a request-smuggling vector), and a bare CR is invalid (§2.2):
//     both are 400. This applies to chunk framing too.
//   - Empty lines (CRLF) before a request-line are ignored (§2.2 SHOULD);
//     they do not count toward MaxHeaderBytes.
//   - The request-line is method SP request-target SP HTTP-version with single
//     spaces (§3; the MAY of parsing on whitespace runs is not taken). The
//     target must be VCHAR without '#' (§3.2, RFC 3986), its form must match
//     the method (origin-form, "*" only for OPTIONS, authority-form
//     host:port only and always for CONNECT, absolute-form with a scheme).
//     Percent-escapes must be "%" HEXDIG HEXDIG (RFC 3986 §2.1); nothing
//     else of RFC 3986 is checked. A target longer than MaxTargetBytes is
//     414 (§3).
//   - HTTP-version is case-sensitive "HTTP/" DIGIT "." DIGIT (§2.3); anything
//     else is 400. Major version other than 1 is 505 (RFC 9110 §15.6.6).
//     1.x with x >= 2 is treated as 1.1 (RFC 9110 §6.2); Minor keeps x.
//   - Field lines: name is a token followed directly by ':'; whitespace
//     before the colon is 400 (§5.1 MUST). A line starting with SP/HTAB
//     (obs-fold, or whitespace after the request-line) is 400 (§5.2, §2.2).
//     Values may hold VCHAR, obs-text, SP and HTAB; any other control
//     (NUL, CR, DEL, ...) is 400 (RFC 9110 §5.5). OWS around the value is
//     trimmed (§5).
//   - More than MaxHeaders field lines, or a head (request-line + fields +
//     CRLFs) longer than MaxHeaderBytes, is 431 (RFC 6585 §5).
//   - HTTP/1.1 without exactly one Host field line is 400 (§3.2 MUST); a
//     non-empty Host must be uri-host [":" port] (RFC 3986 §3.2.2: a
//     bracketed IPv6 literal, or a reg-name/IPv4 without ':'), else 400.
//   - Content-Length must be 1*DIGIT (at most 18 digits). Repeated field
//     lines with byte-identical values are accepted (RFC 9110 §8.6 MAY);
//     a comma list or differing values ("2" and "02" differ) is 400 (§6.3
//     item 5). Above MaxBodyBytes (when set) it is 413.
//   - Transfer-Encoding: chunked request bodies are supported (§7.1) and
//     decoded: Body() yields chunk data only. A chunk-size has at most 15
//     hex digits (400 beyond); whitespace after it must lead to ";" (§7.1.1
//     BWS). Chunk extensions are skipped (bounded, printable bytes only);
//     trailer field lines are checked (name token, colon, field-value
//     chars), bounded by MaxHeaderBytes (431), and discarded (§7.1.2
//     allows ignoring them).
//     Transfer-Encoding together with Content-Length is 400 (§6.3 item 3,
//     §11.2: a smuggling signature). Chunked not final, or applied twice, is
//     400 (§6.3 item 4, §7). Any other coding (gzip, ...) is 501 (§6.1
//     SHOULD). Transfer-Encoding in an HTTP/1.0 request is 400 (§6.1: the
//     framing must be treated as faulty).
//   - A request with neither Content-Length nor Transfer-Encoding has no
//     body (§6.3 item 6).
//   - Keep-alive (§9.3): HTTP/1.1 persists unless Connection has "close";
//     HTTP/1.0 persists only with "keep-alive" and no "close". After the
//     EvEnd of a request that does not persist, Feed returns EvClosed and
//     parses nothing more (§9.6: the server MUST NOT process further
//     requests on that connection).
//   - "Expect: 100-continue" sets Request.Expect100; other expectations are
//     ignored (RFC 9110 §10.1.1 allows 417; answering is the server's job).
//   - After EvError the parser is stuck: every Feed returns EvError. The
//     server sends the canned response for Status() and closes.
//
// # Writing
//
// Writer appends a status line, Date (formatted once per second from a
// time the caller gives), Server, extra fields, Content-Length and
// Connection into a caller-provided slice. Error responses for the statuses
// the parser reports are canned and carry "Connection: close".
package http1
