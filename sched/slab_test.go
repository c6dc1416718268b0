package sched

import (
	"math/rand/v2"
	"testing"
)

type slabElem struct {
	a, b uint64
	tag  uint32
}

func TestSlabAgainstMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	s := NewSlab[slabElem]()
	ref := map[uint32]uint64{} // live index -> expected a
	var live []uint32
	ptrs := map[uint32]*slabElem{}
	for i := range 300_000 {
		if len(live) == 0 || rng.IntN(100) < 55 {
			idx := s.Alloc()
			if _, dup := ref[idx]; dup {
				t.Fatalf("Alloc returned live index %d", idx)
			}
			p := s.Get(idx)
			if *p != (slabElem{}) {
				t.Fatalf("Alloc(%d) not zeroed: %+v", idx, *p)
			}
			p.a = uint64(i)
			ref[idx] = uint64(i)
			ptrs[idx] = p
			live = append(live, idx)
		} else {
			j := rng.IntN(len(live))
			idx := live[j]
			live[j] = live[len(live)-1]
			live = live[:len(live)-1]
			if !s.Free(idx) {
				t.Fatalf("Free(%d) of a live index failed", idx)
			}
			if s.Free(idx) {
				t.Fatalf("double Free(%d) accepted", idx)
			}
			if s.Get(idx) != nil {
				t.Fatalf("Get of freed %d not nil", idx)
			}
			delete(ref, idx)
			delete(ptrs, idx)
		}
		if i%10_000 == 0 {
			// Pointers taken earlier still address the same element,
			// however much the slab grew since.
			for idx, want := range ref {
				if p := s.Get(idx); p != ptrs[idx] || p.a != want {
					t.Fatalf("element %d moved or changed", idx)
				}
			}
		}
	}
	if s.Len() != len(ref) {
		t.Fatalf("Len = %d, want %d", s.Len(), len(ref))
	}
	if s.Get(1<<31) != nil || s.Free(1<<31) || s.Valid(1<<31) {
		t.Fatal("out-of-range index accepted")
	}
}

func TestSlabReusesFreedLIFO(t *testing.T) {
	s := NewSlab[int]()
	a, b := s.Alloc(), s.Alloc()
	*s.Get(a) = 7
	s.Free(a)
	s.Free(b)
	if got := s.Alloc(); got != b {
		t.Fatalf("Alloc after Free(a), Free(b) = %d, want %d (LIFO)", got, b)
	}
	if got := s.Alloc(); got != a || *s.Get(a) != 0 {
		t.Fatalf("reused %d not zeroed: %d", got, *s.Get(got))
	}
	if s.Cap() != slabPageSize {
		t.Fatalf("Cap = %d", s.Cap())
	}
}

func BenchmarkSlabAllocFree(b *testing.B) {
	s := NewSlab[[64]byte]()
	idx := make([]uint32, 1<<16)
	for i := range idx {
		idx[i] = s.Alloc()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		k := i & (1<<16 - 1)
		s.Free(idx[k])
		idx[k] = s.Alloc()
	}
}
