package http1

import "encoding/binary"

// Byte classes as lookup tables, built once at init. A table lookup per byte
// keeps the hot loops branch-light.
var (
	// tchar: RFC 9110 §5.6.2 token characters.
	isTchar [256]bool
	// isTargetChar: VCHAR except '#' (RFC 9112 §3.2: no fragment in a
	// request-target).
	isTargetChar [256]bool
	// isFieldChar: field-vchar, SP and HTAB (RFC 9110 §5.5); obs-text allowed.
	isFieldChar [256]bool
	// isHostChar: uri-host [":" port] of RFC 3986 §3.2.2: unreserved,
	// sub-delims, pct-encoding and IP-literal brackets, plus ':'.
	isHostChar [256]bool
)

func init() {
	for c := 0; c < 256; c++ {
		alnum := c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		switch {
		case alnum:
			isTchar[c] = true
		default:
			switch c {
			case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
				isTchar[c] = true
			}
		}
		isTargetChar[c] = c > 0x20 && c < 0x7f && c != '#'
		isFieldChar[c] = c == '\t' || c >= 0x20 && c != 0x7f
		if alnum {
			isHostChar[c] = true
		} else {
			switch c {
			case '-', '.', '_', '~', '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', ':', '[', ']', '%':
				isHostChar[c] = true
			}
		}
	}
}

// lower folds an ASCII letter to lower case.
func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// equalFold reports whether b equals the lower-case ASCII string s,
// ignoring ASCII case in b. It allocates nothing.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if lower(b[i]) != s[i] {
			return false
		}
	}
	return true
}

// trimOWS strips optional whitespace (SP, HTAB; RFC 9110 §5.6.3).
func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// nextElement splits the first element off a comma-separated list
// (RFC 9110 §5.6.1) and returns it trimmed and the remainder.
func nextElement(b []byte) (elem, rest []byte) {
	for i, c := range b {
		if c == ',' {
			return trimOWS(b[:i]), b[i+1:]
		}
	}
	return trimOWS(b), nil
}

func unhex(c byte) int64 {
	switch {
	case c >= '0' && c <= '9':
		return int64(c - '0')
	case c >= 'a' && c <= 'f':
		return int64(c - 'a' + 10)
	case c >= 'A' && c <= 'F':
		return int64(c - 'A' + 10)
	}
	return -1
}

// SWAR (SIMD within a register) checks over 8 bytes at a time. Both tests
// are exact as a yes/no answer for the whole word (Hacker's Delight 6-1,
// "haszero"/"hasless" with n <= 128).
const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

func hasLess(x uint64, n byte) bool { return (x-lsb*uint64(n))&^x&msb != 0 }

func hasByte(x uint64, c byte) bool {
	y := x ^ lsb*uint64(c)
	return (y-lsb)&^y&msb != 0
}

// validFieldValue reports whether b is made of field-vchar, SP and HTAB
// (RFC 9110 §5.5). Words without controls or DEL are skipped 8 bytes at a
// time; HTAB and the tail fall back to the byte table.
func validFieldValue(b []byte) bool {
	for len(b) >= 8 {
		x := binary.LittleEndian.Uint64(b)
		if hasLess(x, 0x20) || hasByte(x, 0x7f) {
			break
		}
		b = b[8:]
	}
	for _, c := range b {
		if !isFieldChar[c] {
			return false
		}
	}
	return true
}

// validIPv6 checks IPv6address of RFC 3986 §3.2.2 (RFC 4291 §2.2 text
// forms): eight 1-4 digit hex groups, one "::" standing for at least one
// zero group, an optional dotted IPv4 tail counting as two groups.
func validIPv6(b []byte) bool {
	groups, ellipsis, i := 0, false, 0
	if len(b) >= 2 && b[0] == ':' && b[1] == ':' {
		ellipsis, i = true, 2
	} else if len(b) > 0 && b[0] == ':' {
		return false
	}
	for i < len(b) {
		j := i
		for j < len(b) && j-i < 4 && unhex(b[j]) >= 0 {
			j++
		}
		if j < len(b) && b[j] == '.' {
			if !validIPv4(b[i:]) {
				return false
			}
			groups += 2
			break
		}
		if j == i {
			return false
		}
		groups++
		if i = j; i == len(b) {
			break
		}
		if b[i] != ':' || i+1 == len(b) {
			return false
		}
		if i++; b[i] == ':' {
			if ellipsis {
				return false
			}
			ellipsis = true
			i++
		}
	}
	if ellipsis {
		return groups <= 7
	}
	return groups == 8
}

// validIPv4 checks IPv4address of RFC 3986 §3.2.2: four dec-octets
// (0-255, no leading zero) separated by dots.
func validIPv4(b []byte) bool {
	for part := 0; part < 4; part++ {
		if part > 0 {
			if len(b) == 0 || b[0] != '.' {
				return false
			}
			b = b[1:]
		}
		n, d := 0, 0
		for d < len(b) && d < 3 && b[d] >= '0' && b[d] <= '9' {
			n = n*10 + int(b[d]-'0')
			d++
		}
		if d == 0 || n > 255 || d > 1 && b[0] == '0' {
			return false
		}
		b = b[d:]
	}
	return len(b) == 0
}
