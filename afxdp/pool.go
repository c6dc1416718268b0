package afxdp

// FramePool is a free list of UMEM frame addresses: a stack in a slice
// sized once, so Get and Put allocate nothing. It is owned by one
// goroutine (one loop); loops sharing a UMEM each take a disjoint range.
type FramePool struct {
	free      []uint64
	n         int
	frameMask uint64
}

// NewPool returns a pool holding frames first..first+count-1 of u.
func (u *Umem) NewPool(first, count uint32) *FramePool {
	if first > u.cfg.FrameCount {
		first = u.cfg.FrameCount
	}
	count = min(count, u.cfg.FrameCount-first)
	p := &FramePool{free: make([]uint64, count), frameMask: ^uint64(u.cfg.FrameSize - 1)}
	// Push in reverse so Get hands out the lowest addresses first.
	for i := range count {
		p.free[i] = uint64(first+count-1-i) * uint64(u.cfg.FrameSize)
	}
	p.n = int(count)
	return p
}

// Len is the number of free frames.
func (p *FramePool) Len() int { return p.n }

// Cap is the number of frames the pool can hold.
func (p *FramePool) Cap() int { return len(p.free) }

// Get pops a free frame address; ok is false when the pool is empty.
func (p *FramePool) Get() (addr uint64, ok bool) {
	if p.n == 0 {
		return 0, false
	}
	p.n--
	return p.free[p.n], true
}

// GetN pops up to len(dst) frames into dst and returns how many.
func (p *FramePool) GetN(dst []uint64) int {
	k := min(len(dst), p.n)
	copy(dst[:k], p.free[p.n-k:p.n])
	p.n -= k
	return k
}

// Put pushes a frame back (any address inside it; it is rounded down to
// the frame start). It reports false, dropping nothing but the call, when
// the pool is already full, which means a frame was put back twice.
func (p *FramePool) Put(addr uint64) bool {
	if p.n == len(p.free) {
		return false
	}
	p.free[p.n] = addr & p.frameMask
	p.n++
	return true
}

// FillFrom moves up to max frames from p to the fill ring, submits them,
// and returns how many moved (limited by the pool and the ring's room).
func (f *FillRing) FillFrom(p *FramePool, max uint32) uint32 {
	idx, got := f.Reserve(min(max, uint32(p.Len())))
	for i := range got {
		a, _ := p.Get()
		f.Set(idx+i, a)
	}
	f.Submit(got)
	return got
}

// DrainTo moves up to max completed frames to p, releases them, and
// returns how many moved. It stops early if p is full (a frame returned
// twice), leaving the rest on the ring.
func (c *CompletionRing) DrainTo(p *FramePool, max uint32) uint32 {
	max = min(max, uint32(p.Cap()-p.Len()))
	idx, got := c.Peek(max)
	for i := range got {
		p.Put(c.Addr(idx + i))
	}
	c.Release(got)
	return got
}
