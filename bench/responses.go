package main

// The responses every server sends, byte for byte the same. "/" is the tiny
// response of the request-rate workloads; "/bytes/N" (N in responseSizes)
// answers N octets of body, for the response-size and bulk workloads.

import (
	"bytes"
	"strconv"
)

// responseSizes are the body sizes of the sizes workload: a small API
// response, a web page, a download.
var responseSizes = []int{64, 16 << 10, 1 << 20}

type response struct{ keep, close []byte }

var sizedResponses = func() map[string]response {
	m := map[string]response{"/": {helloResp, helloRespClose}}
	for _, n := range responseSizes {
		body := bytes.Repeat([]byte("x"), n)
		head := "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(n) + "\r\nContent-Type: text/plain\r\n"
		m[sizePath(n)] = response{
			keep:  append([]byte(head+"\r\n"), body...),
			close: append([]byte(head+"Connection: close\r\n\r\n"), body...),
		}
	}
	return m
}()

func sizePath(n int) string { return "/bytes/" + strconv.Itoa(n) }

// respondTo picks the response to one complete request head (request line
// and fields, without the final empty line) and whether to close after it.
// An unknown path gets the tiny response: the servers are load targets, not
// routers, and the generator checks every length.
func respondTo(head []byte) (resp []byte, closeAfter bool) {
	r := sizedResponses["/"]
	if sp := bytes.IndexByte(head, ' '); sp >= 0 {
		rest := head[sp+1:]
		if sp2 := bytes.IndexByte(rest, ' '); sp2 >= 0 {
			// A map index with a string(bytes) conversion does not allocate.
			if got, ok := sizedResponses[string(rest[:sp2])]; ok {
				r = got
			}
		}
	}
	if wantsClose(head) {
		return r.close, true
	}
	return r.keep, false
}

// respondAll answers every complete request head at the start of buf by
// calling write, and returns how many octets it consumed and whether the
// last answered request asked to close (then nothing after it is read).
func respondAll(buf []byte, write func([]byte)) (used int, closeAfter bool) {
	for {
		end := bytes.Index(buf[used:], []byte("\r\n\r\n"))
		if end < 0 {
			return used, false
		}
		head := buf[used : used+end+2]
		used += end + 4
		resp, cl := respondTo(head)
		write(resp)
		if cl {
			return used, true
		}
	}
}
