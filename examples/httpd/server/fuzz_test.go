package server

import (
	"bytes"
	"testing"
)

// FuzzConn: whatever the input, the state machine does not panic, and the
// responses do not depend on how the input is split into reads nor on how
// the transport paces the writes (a client that reads promptly through a
// small send buffer gets the same octets as one through a huge one).
func FuzzConn(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /size/70000 HTTP/1.1\r\nHost: a\r\n\r\n"), []byte{3, 50, 1})
	f.Add([]byte("POST /size/3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nHEAD / HTTP/1.0\r\n\r\n"), []byte{7})
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nxyGET /x HTTP/1.1\r\n\r\n"), []byte{1, 2, 3})
	f.Add([]byte("GET /size/20000 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n"), []byte{200})
	f.Add([]byte("\r\n\r\nDELETE * HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), []byte{0, 9})
	f.Fuzz(func(t *testing.T, in, splits []byte) {
		_, whole := newTestConn(t, Options{MaxSize: 1 << 20})
		mw := &memTransport{sndBuf: 1 << 40}
		aw := whole.OnData(mw, in)

		_, c := newTestConn(t, Options{MaxSize: 1 << 20})
		m := &memTransport{sndBuf: 1500}
		a := None
		rest := in
		for i := 0; len(rest) > 0 && a == None; i++ {
			n := len(rest)
			if len(splits) > 0 {
				n = min(n, int(splits[i%len(splits)])+1)
			}
			a = c.OnData(m, rest[:n])
			rest = rest[n:]
			for j := 0; a == None && m.Buffered() > 0; j++ {
				if j > 1<<16 {
					t.Fatal("the transport drains but the response never ends")
				}
				m.drain()
				a = c.OnWritable(m)
			}
		}
		if a == Abort {
			return // the held-input bound depends on pacing
		}
		if aw != None && a == None {
			t.Fatalf("one read: %v; split: %v", aw, a)
		}
		if !bytes.Equal(m.out, mw.out) {
			t.Fatalf("split/paced output differs from one read:\n%q\n%q", trunc(m.out), trunc(mw.out))
		}
	})
}
