package server

import (
	"strings"
	"testing"
)

var (
	reqGet       = []byte("GET / HTTP/1.1\r\nHost: 198.18.0.1:8080\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	reqPipelined = []byte(strings.Repeat(string(reqGet), 16))
	reqPost      = []byte("POST /size/64 HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n" + strings.Repeat("p", 100))
	reqLarge     = []byte("GET /size/1048576 HTTP/1.1\r\nHost: a\r\n\r\n")
)

// serveOnce feeds each piece as one read and drains the transport until
// the responses are out.
func serveOnce(tb testing.TB, c *Conn, m *memTransport, pieces ...[]byte) {
	m.out = m.out[:0]
	for _, p := range pieces {
		if a := c.OnData(m, p); a != None {
			tb.Fatalf("action %v", a)
		}
	}
	for i := 0; m.Buffered() > 0; i++ {
		if i > 1000 {
			tb.Fatal("response never finished")
		}
		m.drain()
		m.out = m.out[:0]
		if a := c.OnWritable(m); a != None {
			tb.Fatalf("action %v", a)
		}
	}
	m.drain()
}

var allocCases = []struct {
	name   string
	pieces [][]byte
	sndBuf int
}{
	{"keep-alive GET", [][]byte{reqGet}, 1 << 30},
	{"16 pipelined", [][]byte{reqPipelined}, 1 << 30},
	{"head split in 3", [][]byte{reqGet[:10], reqGet[10:40], reqGet[40:]}, 1 << 30},
	{"POST body", [][]byte{reqPost[:60], reqPost[60:]}, 1 << 30},
	{"1 MiB with backpressure", [][]byte{reqLarge}, 64 << 10},
}

// TestZeroAlloc: steady-state requests allocate nothing (after the first,
// which may size the connection's buffers).
func TestZeroAlloc(t *testing.T) {
	for _, tc := range allocCases {
		t.Run(tc.name, func(t *testing.T) {
			_, c := newTestConn(t, Options{})
			m := &memTransport{sndBuf: tc.sndBuf, out: make([]byte, 0, 256<<10)}
			serveOnce(t, c, m, tc.pieces...)
			if n := testing.AllocsPerRun(100, func() { serveOnce(t, c, m, tc.pieces...) }); n != 0 {
				t.Fatalf("%.1f allocations per run, want 0", n)
			}
		})
	}
}

func BenchmarkConn(b *testing.B) {
	for _, tc := range allocCases {
		b.Run(tc.name, func(b *testing.B) {
			_, c := newTestConn(b, Options{})
			m := &memTransport{sndBuf: tc.sndBuf, out: make([]byte, 0, 256<<10)}
			serveOnce(b, c, m, tc.pieces...)
			var in int
			for _, p := range tc.pieces {
				in += len(p)
			}
			b.SetBytes(int64(in))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				serveOnce(b, c, m, tc.pieces...)
			}
		})
	}
}
