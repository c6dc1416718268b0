package sched

import "math"

// slabPageBits sets the page size: 4096 elements per page. Pages, not one
// growing slice, so that growth never copies existing elements (no pause
// proportional to the slab's size) and a *T from Get stays valid for as long
// as its index is allocated, whatever else is allocated meanwhile.
const (
	slabPageBits = 12
	slabPageSize = 1 << slabPageBits
	slabPageMask = slabPageSize - 1
)

// Slab is an index allocator for per-connection state: elements are
// addressed by uint32 (what the connection table and the timer wheel store),
// freed indices are reused LIFO (the most recently freed element is the most
// likely to still be in cache). When T holds no pointers, the GC does not scan
// the pages at all; the page directory costs one pointer per 4096 elements.
//
// A Slab belongs to one loop and is not safe for concurrent use.
type Slab[T any] struct {
	pages [][]T
	free  []uint32 // stack of freed indices
	used  []uint64 // allocation bitmap: Get and Free check it
	n     uint32   // indices [0, n) have been handed out at least once
	live  int
}

// NewSlab returns an empty slab.
func NewSlab[T any]() *Slab[T] { return &Slab[T]{} }

// Alloc returns the index of a zeroed element. It allocates memory only when
// a new page is needed (every 4096 elements of growth).
func (s *Slab[T]) Alloc() uint32 {
	var idx uint32
	if k := len(s.free); k > 0 {
		idx = s.free[k-1]
		s.free = s.free[:k-1]
	} else {
		if s.n == math.MaxUint32 {
			panic("sched: slab holds 2^32-1 elements")
		}
		idx = s.n
		s.n++
		if int(idx>>slabPageBits) == len(s.pages) {
			s.pages = append(s.pages, make([]T, slabPageSize))
			s.used = append(s.used, make([]uint64, slabPageSize/64)...)
		}
	}
	s.used[idx>>6] |= 1 << (idx & 63)
	s.live++
	return idx
}

// Free zeroes the element (dropping any references it held) and makes its
// index reusable. It reports false, changing nothing, for an index that is not
// allocated: a double free is caught here instead of corrupting the free
// list.
func (s *Slab[T]) Free(idx uint32) bool {
	if !s.Valid(idx) {
		return false
	}
	var zero T
	s.pages[idx>>slabPageBits][idx&slabPageMask] = zero
	s.used[idx>>6] &^= 1 << (idx & 63)
	s.free = append(s.free, idx)
	s.live--
	return true
}

// Get returns the element at idx, or nil when idx is not allocated. The
// pointer stays valid until idx is freed.
func (s *Slab[T]) Get(idx uint32) *T {
	if !s.Valid(idx) {
		return nil
	}
	return &s.pages[idx>>slabPageBits][idx&slabPageMask]
}

// Valid reports whether idx is currently allocated.
func (s *Slab[T]) Valid(idx uint32) bool {
	return idx < s.n && s.used[idx>>6]&(1<<(idx&63)) != 0
}

// Len reports the number of allocated elements.
func (s *Slab[T]) Len() int { return s.live }

// Cap reports how many elements fit before the next page is allocated.
func (s *Slab[T]) Cap() int { return len(s.pages) * slabPageSize }
