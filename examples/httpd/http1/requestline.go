package http1

import "bytes"

// scanTarget finds the SP ending a request-target at the start of s. It
// returns the target length, -1 if s ends first, or a status: 400 for a
// byte not allowed in a target, 414 once the target exceeds max. Bytes are
// judged in order, so a prefix and the whole line get the same verdict.
func scanTarget(s []byte, max int) (end int, status int) {
	for i, c := range s {
		if c == ' ' {
			return i, 0
		}
		if i >= max {
			return -1, 414
		}
		if !isTargetChar[c] {
			return -1, 400
		}
	}
	return -1, 0
}

// partialRequestLine judges an unfinished request-line, so that garbage is
// refused without waiting for MaxHeaderBytes. It only rejects what the
// complete line would be rejected for with the same status, so the verdict
// does not depend on how the input was split.
func (p *Parser) partialRequestLine(line []byte, atLimit bool) int {
	for ; p.methodChecked < len(line); p.methodChecked++ {
		c := line[p.methodChecked]
		if c == ' ' {
			break
		}
		if !isTchar[c] {
			return 400
		}
	}
	if p.methodChecked == len(line) {
		if atLimit {
			return 431
		}
		return 0
	}
	if p.methodChecked == 0 {
		return 400 // empty method
	}
	if !atLimit {
		return 0
	}
	if _, st := scanTarget(line[p.methodChecked+1:], p.lim.MaxTargetBytes); st != 0 {
		return st
	}
	return 431
}

// requestLine parses method SP request-target SP HTTP-version (§3).
func (p *Parser) requestLine(line []byte, off int) int {
	m := 0
	for m < len(line) && isTchar[line[m]] {
		m++
	}
	if m == 0 || m == len(line) || line[m] != ' ' {
		return 400
	}
	rest := line[m+1:]
	t, st := scanTarget(rest, p.lim.MaxTargetBytes)
	if st != 0 {
		return st
	}
	if t <= 0 {
		return 400 // no version (HTTP/0.9 form), or an empty target
	}
	v := rest[t+1:]
	if len(v) != 8 || string(v[:5]) != "HTTP/" || v[6] != '.' ||
		v[5] < '0' || v[5] > '9' || v[7] < '0' || v[7] > '9' {
		return 400 // §2.3
	}
	if v[5] != '1' {
		return 505
	}
	method, target := line[:m], rest[:t]
	if st := checkForm(method, target); st != 0 {
		return st
	}
	p.minor = int(v[7] - '0')
	p.mS, p.mE = int32(off), int32(off+m)
	p.tS = int32(off + m + 1)
	p.tE = p.tS + int32(t)
	return 0
}

// checkForm matches the request-target form to the method (§3.2.1-§3.2.4).
func checkForm(method, target []byte) int {
	// pct-encoded = "%" HEXDIG HEXDIG (RFC 3986 §2.1), in every form.
	for i := bytes.IndexByte(target, '%'); i >= 0; {
		if i+2 >= len(target) || unhex(target[i+1]) < 0 || unhex(target[i+2]) < 0 {
			return 400
		}
		j := bytes.IndexByte(target[i+3:], '%')
		if j < 0 {
			break
		}
		i += 3 + j
	}
	connect := string(method) == "CONNECT"
	switch {
	case connect:
		// authority-form = uri-host ":" port, port not empty
		if !validHostPort(target, true) {
			return 400
		}
		return 0
	case target[0] == '/':
		return 0
	case len(target) == 1 && target[0] == '*':
		if string(method) != "OPTIONS" {
			return 400
		}
		return 0
	}
	// absolute-form: scheme ":" ... (RFC 3986 §3.1)
	c := target[0]
	if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
		return 400
	}
	for i := 1; i < len(target); i++ {
		c = target[i]
		if c == ':' {
			return checkHierPart(target[i+1:])
		}
		if !(isTchar[c] && c != '!' && c != '#' && c != '$' && c != '%' && c != '&' &&
			c != '\'' && c != '*' && c != '^' && c != '_' && c != '`' && c != '|' && c != '~') {
			return 400
		}
	}
	return 400
}

// checkHierPart checks what follows an absolute-form's scheme: an
// authority after "//" must be a valid uri-host [ ":" port ] (RFC 3986
// §3.2), and userinfo in it is an error (RFC 9110 §4.2.4: a recipient
// SHOULD treat its presence as one). A pct-encoded host is refused too:
// RFC 3986 allows it in a reg-name, but an http host is a DNS name or an
// IP literal, and decoders disagree on it (net/http refuses most). Paths,
// queries and fragments are left to the application, as in origin-form.
func checkHierPart(rest []byte) int {
	if len(rest) < 2 || rest[0] != '/' || rest[1] != '/' {
		return 0
	}
	auth := rest[2:]
	if i := bytes.IndexAny(auth, "/?#"); i >= 0 {
		auth = auth[:i]
	}
	if bytes.IndexAny(auth, "@%") >= 0 || !validHostPort(auth, false) {
		return 400
	}
	return 0
}

// validHostPort checks uri-host [ ":" port ] (RFC 3986 §3.2.2, §3.2.3):
// an IP-literal in brackets, or a reg-name/IPv4address without ':', then
// an optional port of digits (required, and not empty, when needPort).
func validHostPort(b []byte, needPort bool) bool {
	var port []byte
	hasPort := false
	if len(b) > 0 && b[0] == '[' {
		end := bytes.IndexByte(b, ']')
		if end < 2 {
			return false
		}
		if !validIPv6(b[1:end]) {
			return false // IPv6address only (no IPvFuture, no zone)
		}
		if rest := b[end+1:]; len(rest) > 0 {
			if rest[0] != ':' {
				return false
			}
			port, hasPort = rest[1:], true
		}
	} else {
		host := b
		if i := bytes.IndexByte(b, ':'); i >= 0 {
			host, port, hasPort = b[:i], b[i+1:], true
		}
		if len(host) == 0 {
			return false
		}
		for _, c := range host {
			if !isHostChar[c] || c == ':' || c == '[' || c == ']' {
				return false
			}
		}
	}
	for _, c := range port {
		if c < '0' || c > '9' {
			return false
		}
	}
	return !needPort || hasPort && len(port) > 0
}
