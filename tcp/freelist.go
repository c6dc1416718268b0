package tcp

// freeList is a loop's bounded free list of spare T, what RangePool and
// SenderPool share: not safe for concurrent use (one per loop, like the
// chunk Pool).
type freeList[T any] struct {
	free  []*T
	inUse int
}

// take returns a spare T, or a new one when none is left.
func (p *freeList[T]) take() *T {
	p.inUse++
	if len(p.free) == 0 {
		return new(T)
	}
	x := p.free[len(p.free)-1]
	p.free[len(p.free)-1] = nil
	p.free = p.free[:len(p.free)-1]
	return x
}

// give takes x back, unless limit are spare already: then the garbage
// collector gets it, so a burst does not leave a loop holding its peak.
func (p *freeList[T]) give(x *T, limit int) {
	p.inUse--
	if len(p.free) < limit {
		p.free = append(p.free, x)
	}
}

// Idle reports how many spares the list holds; InUse how many were taken
// and not given back.
func (p *freeList[T]) Idle() int  { return len(p.free) }
func (p *freeList[T]) InUse() int { return p.inUse }
