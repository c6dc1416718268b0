package http1

import (
	"strings"
	"testing"
)

type parseCase struct {
	name   string
	rfc    string // where the rule comes from
	lim    Limits
	in     string
	status int    // 0: accepted
	want   string // accepted: the transcript of feeding in at once
}

const get11 = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"

var parseCases = []parseCase{
	// ---- accepted
	{name: "minimal 1.1", rfc: "RFC 9112 §3, §3.2", in: get11,
		want: `H "GET" "/" 1.1 ka=true cl=0 chunked=false e100=false host="a" ["Host": "a"]` + "\nB \"\"\nE\n"},
	{name: "1.0 without Host closes", rfc: "RFC 9112 §9.3", in: "GET /x?y=1 HTTP/1.0\r\n\r\n",
		want: `H "GET" "/x?y=1" 1.0 ka=false cl=0 chunked=false e100=false host=""` + "\nB \"\"\nE\nC\n"},
	{name: "1.0 keep-alive", rfc: "RFC 9112 §9.3, §C.2.2", in: "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
		want: `H "GET" "/" 1.0 ka=true cl=0 chunked=false e100=false host="" ["Connection": "Keep-Alive"]` + "\nB \"\"\nE\n"},
	{name: "1.1 Connection: close", rfc: "RFC 9112 §9.6", in: "GET / HTTP/1.1\r\nHost: a\r\nconnection: upgrade, CLOSE\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
		want: `H "GET" "/" 1.1 ka=false cl=0 chunked=false e100=false host="a" ["Host": "a"] ["connection": "upgrade, CLOSE"]` + "\nB \"\"\nE\nC\n"},
	{name: "close wins over keep-alive", rfc: "RFC 9112 §9.3", in: "GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n",
		want: `H "GET" "/" 1.0 ka=false cl=0 chunked=false e100=false host="" ["Connection": "keep-alive"] ["Connection": "close"]` + "\nB \"\"\nE\nC\n"},
	{name: "Content-Length body", rfc: "RFC 9112 §6.2", in: "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
		want: `H "POST" "/p" 1.1 ka=true cl=5 chunked=false e100=false host="a" ["Host": "a"] ["Content-Length": "5"]` + "\nB \"hello\"\nE\n"},
	{name: "repeated identical Content-Length", rfc: "RFC 9110 §8.6", in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
		want: `H "POST" "/" 1.1 ka=true cl=2 chunked=false e100=false host="a" ["Host": "a"] ["Content-Length": "2"] ["Content-Length": "2"]` + "\nB \"ok\"\nE\n"},
	{name: "chunked with extension and trailer", rfc: "RFC 9112 §7.1", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n5;a=b\r\nhello\r\n0A \t;x=\"y\"\r\n, world!!!\r\n0\r\nX-T: 1\r\n\r\n",
		want: `H "POST" "/" 1.1 ka=true cl=-1 chunked=true e100=false host="a" ["Host": "a"] ["Transfer-Encoding": "Chunked"]` + "\nB \"hello, world!!!\"\nE\n"},
	{name: "chunked with empty list elements", rfc: "RFC 9110 §5.6.1", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , chunked ,\r\n\r\n0\r\n\r\n",
		want: `H "POST" "/" 1.1 ka=true cl=-1 chunked=true e100=false host="a" ["Host": "a"] ["Transfer-Encoding": ", chunked ,"]` + "\nB \"\"\nE\n"},
	{name: "leading empty lines ignored", rfc: "RFC 9112 §2.2", in: "\r\n\r\n" + get11,
		want: `H "GET" "/" 1.1 ka=true cl=0 chunked=false e100=false host="a" ["Host": "a"]` + "\nB \"\"\nE\n"},
	{name: "OWS trimmed, empty value, obs-text", rfc: "RFC 9112 §5, RFC 9110 §5.5", in: "GET / HTTP/1.1\r\nHost:a\r\nX-E:\r\nX-O: \t caf\xc3\xa9 \t \r\n\r\n",
		want: `H "GET" "/" 1.1 ka=true cl=0 chunked=false e100=false host="a" ["Host": "a"] ["X-E": ""] ["X-O": "café"]` + "\nB \"\"\nE\n"},
	{name: "pct-encoded target", rfc: "RFC 3986 §2.1", in: "GET /%41%2f?%7E=%00 HTTP/1.1\r\nHost: a\r\n\r\n",
		want: `H "GET" "/%41%2f?%7E=%00" 1.1 ka=true cl=0 chunked=false e100=false host="a" ["Host": "a"]` + "\nB \"\"\nE\n"},
	{name: "asterisk-form", rfc: "RFC 9112 §3.2.4", in: "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
		want: `H "OPTIONS" "*" 1.1 ka=true cl=0 chunked=false e100=false host="a" ["Host": "a"]` + "\nB \"\"\nE\n"},
	{name: "authority-form", rfc: "RFC 9112 §3.2.3", in: "CONNECT [2001:2::1]:443 HTTP/1.1\r\nHost: [2001:2::1]:443\r\n\r\n",
		want: `H "CONNECT" "[2001:2::1]:443" 1.1 ka=true cl=0 chunked=false e100=false host="[2001:2::1]:443" ["Host": "[2001:2::1]:443"]` + "\nB \"\"\nE\n"},
	{name: "absolute-form", rfc: "RFC 9112 §3.2.2", in: "GET http://a/b HTTP/1.1\r\nHost: a\r\n\r\n",
		want: `H "GET" "http://a/b" 1.1 ka=true cl=0 chunked=false e100=false host="a" ["Host": "a"]` + "\nB \"\"\nE\n"},
	{name: "HTTP/1.9 treated as 1.1", rfc: "RFC 9110 §6.2", in: "GET / HTTP/1.9\r\nHost: a\r\n\r\n",
		want: `H "GET" "/" 1.9 ka=true cl=0 chunked=false e100=false host="a" ["Host": "a"]` + "\nB \"\"\nE\n"},
	{name: "Expect: 100-continue", rfc: "RFC 9110 §10.1.1", in: "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\nx",
		want: `H "PUT" "/" 1.1 ka=true cl=1 chunked=false e100=true host="a" ["Host": "a"] ["Expect": "100-Continue"] ["Content-Length": "1"]` + "\nB \"x\"\nE\n"},
	{name: "empty Host", rfc: "RFC 9112 §3.2", in: "GET / HTTP/1.1\r\nHost:\r\n\r\n",
		want: `H "GET" "/" 1.1 ka=true cl=0 chunked=false e100=false host="" ["Host": ""]` + "\nB \"\"\nE\n"},
	{name: "head of exactly MaxHeaderBytes", rfc: "RFC 6585 §5", lim: Limits{MaxHeaderBytes: len(get11)}, in: get11,
		want: `H "GET" "/" 1.1 ka=true cl=0 chunked=false e100=false host="a" ["Host": "a"]` + "\nB \"\"\nE\n"},
	{name: "target of exactly MaxTargetBytes", rfc: "RFC 9112 §3", lim: Limits{MaxTargetBytes: 4}, in: "GET /abc HTTP/1.1\r\nHost: a\r\n\r\n",
		want: `H "GET" "/abc" 1.1 ka=true cl=0 chunked=false e100=false host="a" ["Host": "a"]` + "\nB \"\"\nE\n"},
	{name: "exactly MaxHeaders fields", rfc: "RFC 6585 §5", lim: Limits{MaxHeaders: 2}, in: "GET / HTTP/1.1\r\nHost: a\r\nB: c\r\n\r\n",
		want: `H "GET" "/" 1.1 ka=true cl=0 chunked=false e100=false host="a" ["Host": "a"] ["B": "c"]` + "\nB \"\"\nE\n"},
	{name: "body at MaxBodyBytes", rfc: "RFC 9110 §15.5.14", lim: Limits{MaxBodyBytes: 2}, in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n1\r\nb\r\n0\r\n\r\n",
		want: `H "POST" "/" 1.1 ka=true cl=-1 chunked=true e100=false host="a" ["Host": "a"] ["Transfer-Encoding": "chunked"]` + "\nB \"ab\"\nE\n"},

	// ---- 400: message syntax
	{name: "bare LF ends request-line", rfc: "RFC 9112 §2.2", in: "GET / HTTP/1.1\nHost: a\r\n\r\n", status: 400},
	{name: "bare LF ends field line", rfc: "RFC 9112 §2.2", in: "GET / HTTP/1.1\r\nHost: a\n\r\n", status: 400},
	{name: "bare LF ends head", rfc: "RFC 9112 §2.2", in: "GET / HTTP/1.1\r\nHost: a\r\n\n", status: 400},
	{name: "bare CR in value", rfc: "RFC 9112 §2.2", in: "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", status: 400},
	{name: "bare CR before request-line", rfc: "RFC 9112 §2.2", in: "\r" + get11, status: 400},
	{name: "bare CR line", rfc: "RFC 9112 §2.2", in: "GET / HTTP/1.1\r\nHost: a\r\n\rX\r\n\r\n", status: 400},
	{name: "two spaces after method", rfc: "RFC 9112 §3", in: "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "tab separator", rfc: "RFC 9112 §3", in: "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "trailing space after version", rfc: "RFC 9112 §3", in: "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", status: 400},
	{name: "leading space (empty method)", rfc: "RFC 9112 §3", in: " GET / HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "method not a token", rfc: "RFC 9112 §3.1", in: "GE(T / HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "HTTP/0.9 simple request", rfc: "RFC 9112 §3", in: "GET /\r\n\r\n", status: 400},
	{name: "version lower case", rfc: "RFC 9112 §2.3", in: "GET / http/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "version two-digit minor", rfc: "RFC 9112 §2.3", in: "GET / HTTP/1.10\r\nHost: a\r\n\r\n", status: 400},
	{name: "version without minor", rfc: "RFC 9112 §2.3", in: "GET / HTTP/1\r\nHost: a\r\n\r\n", status: 400},
	{name: "control byte in target", rfc: "RFC 9112 §3.2", in: "GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "non-ASCII in target", rfc: "RFC 9112 §3.2", in: "GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "bad pct-encoding", rfc: "RFC 9112 §3.2, RFC 3986 §2.1", in: "GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "truncated pct-encoding", rfc: "RFC 9112 §3.2, RFC 3986 §2.1", in: "GET /a%4 HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "fragment in target", rfc: "RFC 9112 §3.2", in: "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "asterisk with GET", rfc: "RFC 9112 §3.2.4", in: "GET * HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "CONNECT without port", rfc: "RFC 9112 §3.2.3", in: "CONNECT a HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "CONNECT to unbracketed IPv6", rfc: "RFC 9112 §3.2.3, RFC 3986 §3.2.2", in: "CONNECT ::1:443 HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "CONNECT with empty port", rfc: "RFC 9112 §3.2.3", in: "CONNECT a: HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "Host with two colons", rfc: "RFC 9112 §3.2, RFC 3986 §3.2.2", in: "GET / HTTP/1.1\r\nHost: a:1:2\r\n\r\n", status: 400},
	{name: "Host with bad port", rfc: "RFC 9112 §3.2, RFC 3986 §3.2.3", in: "GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", status: 400},
	{name: "CONNECT with origin-form", rfc: "RFC 9112 §3.2.3", in: "CONNECT /a:1 HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "target without scheme or slash", rfc: "RFC 9112 §3.2", in: "GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "scheme starting with digit", rfc: "RFC 3986 §3.1", in: "GET 1http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "absolute-form host with a backtick", rfc: "RFC 3986 §3.2.2", in: "GET A://` HTTP/1.0\r\n\r\n", status: 400},
	{name: "absolute-form userinfo", rfc: "RFC 9110 §4.2.4", in: "GET http://u:p@a/ HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "absolute-form pct-encoded host", rfc: "RFC 9110 §4.2.1", in: "GET aa://0%00 HTTP/1.0\r\n\r\n", status: 400},
	{name: "absolute-form bad port", rfc: "RFC 3986 §3.2.3", in: "GET http://a:8x/ HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "whitespace before colon", rfc: "RFC 9112 §5.1", in: "GET / HTTP/1.1\r\nHost : a\r\n\r\n", status: 400},
	{name: "obs-fold", rfc: "RFC 9112 §5.2", in: "GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n", status: 400},
	{name: "whitespace after request-line", rfc: "RFC 9112 §2.2", in: "GET / HTTP/1.1\r\n Host: a\r\n\r\n", status: 400},
	{name: "field without colon", rfc: "RFC 9112 §5", in: "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", status: 400},
	{name: "empty field name", rfc: "RFC 9112 §5", in: "GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n", status: 400},
	{name: "field name not a token", rfc: "RFC 9110 §5.1", in: "GET / HTTP/1.1\r\nHost: a\r\nX(y): z\r\n\r\n", status: 400},
	{name: "NUL in value", rfc: "RFC 9110 §5.5", in: "GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", status: 400},
	{name: "DEL in value", rfc: "RFC 9110 §5.5", in: "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n", status: 400},
	{name: "1.1 without Host", rfc: "RFC 9112 §3.2", in: "GET / HTTP/1.1\r\nX: y\r\n\r\n", status: 400},
	{name: "two Host lines", rfc: "RFC 9112 §3.2", in: "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", status: 400},
	{name: "invalid Host value", rfc: "RFC 9112 §3.2", in: "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", status: 400},
	{name: "Host with userinfo", rfc: "RFC 9112 §3.2", in: "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", status: 400},

	// ---- 400: message framing (request smuggling, RFC 9112 §11.2)
	{name: "Content-Length not digits", rfc: "RFC 9112 §6.3 item 5", in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello", status: 400},
	{name: "Content-Length empty", rfc: "RFC 9112 §6.3 item 5", in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", status: 400},
	{name: "Content-Length negative", rfc: "RFC 9112 §6.3 item 5", in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", status: 400},
	{name: "Content-Length hex", rfc: "RFC 9112 §6.3 item 5", in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n", status: 400},
	{name: "Content-Length list", rfc: "RFC 9110 §8.6", in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello", status: 400},
	{name: "Content-Length inner space", rfc: "RFC 9112 §6.3 item 5", in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\n", status: 400},
	{name: "conflicting Content-Length", rfc: "RFC 9112 §6.3 item 5", in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", status: 400},
	{name: "Content-Length repeated as 2 and 02", rfc: "RFC 9110 §8.6", in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 02\r\n\r\nok", status: 400},
	{name: "Content-Length overflow", rfc: "RFC 9112 §6.3 item 5", in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n", status: 400},
	{name: "Transfer-Encoding and Content-Length", rfc: "RFC 9112 §6.3 item 3, §11.2", in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 400},
	{name: "Transfer-Encoding in HTTP/1.0", rfc: "RFC 9112 §6.1", in: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 400},
	{name: "chunked not final", rfc: "RFC 9112 §6.3 item 4", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", status: 400},
	{name: "chunked not final across lines", rfc: "RFC 9112 §6.3 item 4", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n", status: 400},
	{name: "chunked twice", rfc: "RFC 9112 §7", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", status: 400},
	{name: "chunked with parameter", rfc: "RFC 9112 §7", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", status: 400},
	{name: "empty Transfer-Encoding", rfc: "RFC 9112 §6.3 item 4", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", status: 400},
	{name: "chunk size not hex", rfc: "RFC 9112 §7.1", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", status: 400},
	{name: "chunk size empty", rfc: "RFC 9112 §7.1", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", status: 400},
	{name: "chunk size overflow", rfc: "RFC 9112 §7.1", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n", status: 400},
	{name: "chunk size then space then digits", rfc: "RFC 9112 §7.1, §7.1.1", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nA 00\r\n0123456789\r\n0\r\n\r\n", status: 400},
	{name: "chunk size then space without extension", rfc: "RFC 9112 §7.1, §7.1.1", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1 \r\na\r\n0\r\n\r\n", status: 400},
	{name: "chunk size bare LF", rfc: "RFC 9112 §2.2, §7.1", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\na\r\n0\r\n\r\n", status: 400},
	{name: "chunk data longer than size", rfc: "RFC 9112 §7.1", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n", status: 400},
	{name: "chunk ext with control", rfc: "RFC 9112 §7.1.1", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;\x01\r\na\r\n0\r\n\r\n", status: 400},
	{name: "trailer line without colon", rfc: "RFC 9112 §7.1.2, §5", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n0\r\n\r\n", status: 400},
	{name: "trailer whitespace before colon", rfc: "RFC 9112 §7.1.2, §5.1", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX : 1\r\n\r\n", status: 400},
	{name: "trailer obs-fold", rfc: "RFC 9112 §7.1.2, §5.2", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: 1\r\n 2\r\n\r\n", status: 400},

	// ---- 413, 414, 431, 501, 505
	{name: "Content-Length above MaxBodyBytes", rfc: "RFC 9110 §15.5.14", lim: Limits{MaxBodyBytes: 4}, in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", status: 413},
	{name: "chunked above MaxBodyBytes", rfc: "RFC 9110 §15.5.14", lim: Limits{MaxBodyBytes: 4}, in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", status: 413},
	{name: "target above MaxTargetBytes", rfc: "RFC 9112 §3", lim: Limits{MaxTargetBytes: 4}, in: "GET /abcd HTTP/1.1\r\nHost: a\r\n\r\n", status: 414},
	{name: "target above MaxTargetBytes and MaxHeaderBytes", rfc: "RFC 9112 §3", lim: Limits{MaxTargetBytes: 8, MaxHeaderBytes: 16}, in: "GET /" + strings.Repeat("a", 40), status: 414},
	{name: "too many fields", rfc: "RFC 6585 §5", lim: Limits{MaxHeaders: 2}, in: "GET / HTTP/1.1\r\nHost: a\r\nB: c\r\nD: e\r\n\r\n", status: 431},
	{name: "head above MaxHeaderBytes", rfc: "RFC 6585 §5", lim: Limits{MaxHeaderBytes: len(get11) - 1}, in: get11, status: 431},
	{name: "endless field line", rfc: "RFC 6585 §5", lim: Limits{MaxHeaderBytes: 64}, in: "GET / HTTP/1.1\r\nX: " + strings.Repeat("v", 100), status: 431},
	{name: "endless method", rfc: "RFC 6585 §5", lim: Limits{MaxHeaderBytes: 64}, in: strings.Repeat("G", 100), status: 431},
	{name: "trailer above MaxHeaderBytes", rfc: "RFC 6585 §5", lim: Limits{MaxHeaderBytes: 80}, in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: " + strings.Repeat("t", 90) + "\r\n\r\n", status: 431},
	{name: "unknown transfer coding", rfc: "RFC 9112 §6.1", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", status: 501},
	{name: "HTTP/2.0", rfc: "RFC 9110 §15.6.6", in: "GET / HTTP/2.0\r\nHost: a\r\n\r\n", status: 505},
	{name: "HTTP/0.9 versioned", rfc: "RFC 9110 §15.6.6", in: "GET / HTTP/0.9\r\n\r\n", status: 505},
}

func TestParseTable(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			got := transcript(t, NewParser(tc.lim), whole([]byte(tc.in)))
			want := tc.want
			if tc.status != 0 {
				want = "X " + itoa(tc.status) + "\n"
				// A rejection may come after the heads that preceded it.
				if !strings.HasSuffix(got, want) {
					t.Fatalf("%s: got\n%s\nwant rejection %d", tc.rfc, got, tc.status)
				}
				if strings.Contains(got, "H ") && !strings.Contains(tc.name, "chunk") &&
					!strings.Contains(tc.name, "trailer") && !strings.Contains(tc.name, "MaxBody") {
					t.Fatalf("%s: head reported before its rejection:\n%s", tc.rfc, got)
				}
			} else if got != want {
				t.Fatalf("%s: got\n%s\nwant\n%s", tc.rfc, got, want)
			}
			// Any way of cutting the input gives the same result.
			checkSplits(t, tc.lim, []byte(tc.in))
		})
	}
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// pipeline is several requests back to back, covering every body kind.
const pipeline = "GET /a HTTP/1.1\r\nHost: example.org\r\nUser-Agent: t\r\nAccept: */*\r\n\r\n" +
	"POST /b?q=1 HTTP/1.1\r\nHost: example.org\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n\r\nhello world" +
	"\r\n" + // a stray CRLF after a body, ignored (§2.2)
	"PUT /c HTTP/1.1\r\nHost: example.org\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n1;e=1\r\nd\r\n0\r\nT: v\r\n\r\n" +
	"GET /d HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" +
	"DELETE /e HTTP/1.1\r\nHost: example.org\r\nConnection: close\r\n\r\n" +
	"GET /never-parsed HTTP/1.1\r\nHost: example.org\r\n\r\n"

func TestPipelineSplits(t *testing.T) {
	got := checkSplits(t, Limits{}, []byte(pipeline))
	for _, want := range []string{`"GET" "/a"`, `"POST" "/b?q=1"`, `B "hello world"`, `"PUT" "/c"`, `B "abcd"`, `"GET" "/d" 1.0 ka=true`, `"DELETE" "/e" 1.1 ka=false`} {
		if !strings.Contains(got, want) {
			t.Errorf("transcript lacks %s:\n%s", want, got)
		}
	}
	if strings.Count(got, "\nE\n") != 5 || !strings.HasSuffix(got, "E\nC\n") || strings.Contains(got, "never-parsed") {
		t.Fatalf("want 5 requests then Closed:\n%s", got)
	}
}

// TestPipelineThreeChunks cuts a shorter pipeline at every pair of points.
func TestPipelineThreeChunks(t *testing.T) {
	in := []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\nPOST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc" +
		"PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n")
	want := transcript(t, NewParser(Limits{}), whole(in))
	p := NewParser(Limits{})
	for i := 0; i <= len(in); i++ {
		for j := i; j <= len(in); j++ {
			p.Reset()
			if got := transcript(t, p, splitAt(in, i, j)); got != want {
				t.Fatalf("cuts %d,%d:\n%s\nwant\n%s", i, j, got, want)
			}
		}
	}
}

func TestErrorIsSticky(t *testing.T) {
	p := NewParser(Limits{})
	if _, ev := p.Feed([]byte("GET / HTTP/2.0\r\n\r\n")); ev != EvError || p.Status() != 505 {
		t.Fatalf("ev %v status %d", ev, p.Status())
	}
	if n, ev := p.Feed([]byte(get11)); ev != EvError || n != 0 {
		t.Fatalf("after error: n %d ev %v", n, ev)
	}
	p.Reset()
	if _, ev := p.Feed([]byte(get11)); ev != EvHead {
		t.Fatalf("after Reset: %v", ev)
	}
}

func TestIdle(t *testing.T) {
	p := NewParser(Limits{})
	if !p.Idle() {
		t.Fatal("fresh parser not idle")
	}
	p.Feed([]byte("GE"))
	if p.Idle() {
		t.Fatal("idle with a partial head")
	}
	p.Feed([]byte("T / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\n"))
	if p.Idle() {
		t.Fatal("idle before the body")
	}
	if _, ev := p.Feed([]byte("x")); ev != EvBody {
		t.Fatalf("got %v", ev)
	}
	if _, ev := p.Feed(nil); ev != EvEnd || !p.Idle() {
		t.Fatalf("got %v idle=%v", ev, p.Idle())
	}
}

func TestRequestHeaderLookup(t *testing.T) {
	p := NewParser(Limits{})
	if _, ev := p.Feed([]byte("GET / HTTP/1.1\r\nHost: a\r\nX-Thing: one\r\nx-thing: two\r\n\r\n")); ev != EvHead {
		t.Fatal(ev)
	}
	r := p.Request()
	if v := r.Header("X-THING"); string(v) != "one" {
		t.Fatalf("X-THING = %q", v)
	}
	if v := r.Header("Missing"); v != nil {
		t.Fatalf("Missing = %q", v)
	}
	if r.HasBody() {
		t.Fatal("HasBody on a GET without length")
	}
}

// TestScalarsSurvivePartialNextHead: a request's scalar fields are valid
// until the next EvHead, even while the next head is half parsed.
func TestScalarsSurvivePartialNextHead(t *testing.T) {
	p := NewParser(Limits{})
	n := parseAll(p, []byte(get11+"GET / HTTP/1.0\r\nX: y\r\n"))
	r := p.Request()
	if n != 1 || r.Minor != 1 || !r.KeepAlive {
		t.Fatalf("requests %d, Minor %d, KeepAlive %v after a partial HTTP/1.0 head", n, r.Minor, r.KeepAlive)
	}
}

func TestRelease(t *testing.T) {
	p := NewParser(Limits{})
	p.Feed([]byte("GET / HT"))
	if p.Release() {
		t.Fatal("released the buffer holding a partial head")
	}
	if n := parseAll(p, []byte("TP/1.1\r\nHost: a\r\n\r\n")); n != 1 {
		t.Fatalf("%d requests", n)
	}
	if !p.Release() || p.buf != nil {
		t.Fatal("idle parser kept its buffer")
	}
	if n := parseAll(p, []byte("GET / HT"), []byte("TP/1.1\r\nHost: a\r\n\r\n")); n != 1 {
		t.Fatalf("after Release: %d requests", n)
	}
}
