package server

import (
	"bytes"
	"strconv"
	"testing"
	"unsafe"
)

// lendTransport is a memTransport that is also a Lender: it keeps lent
// pieces (not copies) until release, as sluice's send buffer does.
type lendTransport struct {
	memTransport
	pieces  [][]byte // lent, in order, not yet released
	dones   []func()
	lent    int // octets lent and not released
	maxLent int
	out     [][]byte // everything in order: copies of writes, lent pieces
}

func (l *lendTransport) Write(p []byte) (int, error) {
	l.out = append(l.out, append([]byte(nil), p...))
	return l.memTransport.Write(p)
}

func (l *lendTransport) Lend(p []byte, done func()) (int, error) {
	l.out = append(l.out, p)
	l.pieces = append(l.pieces, p)
	l.dones = append(l.dones, done)
	l.lent += len(p)
	l.maxLent = max(l.maxLent, l.lent)
	return len(p), nil
}

// release gives back the oldest lent piece.
func (l *lendTransport) release() {
	l.lent -= len(l.pieces[0])
	f := l.dones[0]
	l.pieces, l.dones = l.pieces[1:], l.dones[1:]
	f()
}

func (l *lendTransport) bytes() []byte { return bytes.Join(l.out, nil) }

// TestLendBody: a large pattern body goes to a Lender as lent pieces of
// the shared slab, never more than maxLent out at once; the Conn stops
// there and its wake continues it when a piece comes back; what arrives
// is the same response Write would give; small bodies are written.
func TestLendBody(t *testing.T) {
	const size = 5<<20 + 12345
	_, c := newTestConn(t, Options{})
	m := &lendTransport{memTransport: memTransport{sndBuf: 64 << 10}}
	wakes := 0
	c.wake = func(l Lender) {
		wakes++
		if a := c.OnWritable(l.(Transport)); a != None {
			t.Fatalf("OnWritable: %v", a)
		}
	}
	c.OnData(m, []byte("GET /size/"+strconv.Itoa(size)+" HTTP/1.1\r\nHost: a\r\n\r\nGET /size/10 HTTP/1.1\r\nHost: a\r\n\r\n"))
	if m.lent != maxLent {
		t.Fatalf("lent %d octets before the first release, want %d", m.lent, maxLent)
	}
	slab := lentSlab()
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(slab)))
	for _, p := range m.pieces {
		if a := uintptr(unsafe.Pointer(unsafe.SliceData(p))); a < lo || a+uintptr(len(p)) > lo+uintptr(len(slab)) {
			t.Fatal("a lent piece is not a slice of the shared slab")
		}
	}
	for len(m.pieces) > 0 {
		m.release()
	}
	if m.maxLent > maxLent || wakes == 0 {
		t.Fatalf("%d octets lent at most (bound %d), %d wakes", m.maxLent, maxLent, wakes)
	}
	rs := readResponses(t, m.bytes(), "GET", "GET")
	if !bytes.Equal(rs[0].body, Body(size)) || string(rs[1].body) != "0123456789" {
		t.Fatal("bodies differ")
	}
	if !c.Idle() {
		t.Fatal("not idle after all answered")
	}
	// A Conn reset with pieces out (the connection ended) lets go of the
	// gate: a late release does not wake it.
	c.OnData(m, []byte("GET /size/"+strconv.Itoa(size)+" HTTP/1.1\r\nHost: a\r\n\r\n"))
	c.Reset()
	w := wakes
	for len(m.pieces) > 0 {
		m.release()
	}
	if wakes != w {
		t.Fatal("a reset Conn was woken by a release")
	}
}
