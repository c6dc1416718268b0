package sched

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestHeldTextOrder adds and takes text in random runs, as Write and
// drainPending do, and checks every octet comes out once and in order, and
// that the storage stays within twice what is held plus the last add.
func TestHeldTextOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h heldText
	var in, out []byte
	next := byte(0)
	for i := range 20000 {
		if r.IntN(3) == 0 {
			p := make([]byte, r.IntN(3000))
			for j := range p {
				p[j] = next
				next++
			}
			h.add(p)
			in = append(in, p...)
			if h.off > 0 && len(h.b) > 2*h.Len()+len(p) {
				t.Fatalf("step %d: %d octets of storage for %d held after adding %d", i, len(h.b), h.Len(), len(p))
			}
		} else if h.Len() > 0 {
			n := 1 + r.IntN(h.Len())
			out = append(out, h.Bytes()[:n]...)
			h.advance(n)
		}
		if h.Len() != len(in)-len(out) {
			t.Fatalf("step %d: Len %d, want %d", i, h.Len(), len(in)-len(out))
		}
	}
	out = append(out, h.Bytes()...)
	if !bytes.Equal(in, out) {
		t.Fatal("held text came out changed or out of order")
	}
	h.reset()
	if h.Len() != 0 {
		t.Fatalf("Len after reset = %d", h.Len())
	}
}

// BenchmarkHeldTextDrain is a 64 KiB Write taken back by the TCB three
// segments per ACK, as drainPending does under a bulk response.
func BenchmarkHeldTextDrain(b *testing.B) {
	b.ReportAllocs()
	p := make([]byte, 64<<10)
	var h heldText
	for b.Loop() {
		h.add(p)
		for h.Len() > 0 {
			h.advance(min(h.Len(), 3*1448))
		}
	}
}
