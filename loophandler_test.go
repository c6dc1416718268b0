package sluice

import "testing"

// TestNewConnFresh: every Conn newConn hands out is zeroed and its own,
// across blocks, and a queue without an entry still gets one.
func TestNewConnFresh(t *testing.T) {
	s := &Server{connBlocks: make([]connBlock, 2)}
	seen := map[*Conn]bool{}
	for i := range 3*connBlockLen + 1 {
		for q := range 3 { // queue 2 has no entry
			c := s.newConn(q)
			if seen[c] {
				t.Fatalf("Conn %d of queue %d handed out twice", i, q)
			}
			seen[c] = true
			if *c != (Conn{}) {
				t.Fatalf("Conn %d of queue %d not zeroed", i, q)
			}
			c.ctx = i // dirty it: a later Conn must not see this
		}
	}
	if len(s.connBlocks[0].free) != connBlockLen-1 {
		t.Errorf("queue 0 holds %d fresh Conns, want %d", len(s.connBlocks[0].free), connBlockLen-1)
	}
}

// BenchmarkNewConn: a Conn per accepted connection, from the loop's
// block (allocs/op is 1/connBlockLen) against one heap object each.
func BenchmarkNewConn(b *testing.B) {
	s := &Server{connBlocks: make([]connBlock, 1)}
	b.Run("block", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink = s.newConn(0)
		}
	})
	b.Run("heap", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink = s.newConn(-1)
		}
	})
}

var sink *Conn
