package chunk

import "math/bits"

const (
	// Shift and Size: a chunk is one 4 KiB page. Smaller chunks waste
	// less under many small queues; larger ones make Peek's runs longer
	// and the directories shorter. A page is Linux's unit for socket
	// memory accounting (tcp_mem is in pages).
	Shift = 12
	Size  = 1 << Shift
	// Batch is how many chunks a Pool reserves from its Budget at once.
	Batch = 16
	// cacheMax bounds the free chunks a Pool keeps for reuse (1 MiB):
	// beyond it they go back to the Go heap.
	cacheMax = 256
	// retiredMax bounds the consumed chunks waiting for Recycle; past it
	// a consumed chunk is dropped (left to the GC) rather than kept.
	retiredMax = 4096
	// dirCache bounds the cached directories of each size class.
	dirCache = 64
	// stateCache bounds the cached queue states (64 octets each).
	stateCache = 1024
	// warmMax bounds the states kept with their one-slot directory and
	// chunk (warm); their chunks count against cacheMax too.
	warmMax    = 64
	dirClasses = 20 // up to 2^19 slots: 2 GiB of chunks
)

// Chunk is one fixed-size piece of buffer memory.
type Chunk [Size]byte

// Pool is one loop's source of chunks and queue directories; see the
// package doc. The zero value is not usable: call NewPool.
type Pool struct {
	budget   *Budget
	free     []*Chunk // ready for reuse
	retired  []*Chunk // consumed, reusable after Recycle
	reserved int      // chunks of budget reserved and not in use
	inUse    int
	dirs     [dirClasses][][]*Chunk
	states   []*qstate // free states of non-empty queues
	// warm: states of queues that emptied holding one chunk in a
	// one-slot directory, kept whole, most recent last, so the next
	// queue to take its first octet pops all three at once (a
	// keep-alive connection's buffers empty and fill once a request).
	// warmRetired: the same from receive queues, warm after Recycle.
	warm        []*qstate
	warmRetired []*qstate
	stats       PoolStats
	private     bool   // one queue's own pool: retired chunks are reusable at once
	scratch     []byte // Gather's copies of runs that cross a chunk
	// done: release functions of lent runs no queue refers to any
	// more, for the owner to call (TakeDone); lendings: free lent-run
	// lists (lend.go).
	done      []func()
	doneSpare []func() // RunDone's other list
	lendings  []*lending
}

// PoolStats are a pool's counters.
type PoolStats struct {
	InUse     int    // chunks held by queues
	Cached    int    // free chunks kept for reuse (not counted in the budget)
	Retired   int    // consumed chunks waiting for Recycle
	Reserved  int    // chunks of budget reserved ahead and unused
	Allocated uint64 // chunks allocated from the Go heap
	Refused   uint64 // Gets refused by the budget (the queue stops growing)
	Forced    uint64 // Gets granted past the budget's High (must)
}

// NewPool returns a pool drawing on b (nil: unlimited).
func NewPool(b *Budget) *Pool { return &Pool{budget: b} }

// Budget is the budget the pool draws on.
func (p *Pool) Budget() *Budget { return p.budget }

// UnderPressure reports the budget's pressure state.
func (p *Pool) UnderPressure() bool { return p.budget.UnderPressure() }

// Get returns a chunk, or nil when the budget is at High. must grants one
// anyway (a queue's first chunk, or text already accepted): it is counted
// in Forced.
func (p *Pool) Get(must bool) *Chunk {
	if !p.take(must) {
		return nil
	}
	if c := pop(&p.free); c != nil {
		return c
	}
	if s := pop(&p.warm); s != nil { // a warm state's chunk before the heap's
		c := s.dir[0]
		s.dir[0] = nil
		p.putDir(s.dir)
		p.putState(s)
		return c
	}
	p.stats.Allocated++
	return new(Chunk)
}

// take accounts for a chunk going into use: false when the budget
// refuses it.
func (p *Pool) take(must bool) bool {
	if p.reserved == 0 && !p.reserve(must) {
		p.stats.Refused++
		return false
	}
	p.reserved--
	p.inUse++
	return true
}

// reserve takes a batch of budget, or failing that one chunk, or with
// must one chunk past High.
func (p *Pool) reserve(must bool) bool {
	switch {
	case p.budget.reserve(Batch*Size, false):
		p.reserved = Batch
	case p.budget.reserve(Size, false):
		p.reserved = 1
	case must && p.budget.reserve(Size, true):
		p.stats.Forced++
		p.reserved = 1
	default:
		return false
	}
	return true
}

// Put gives a chunk back for reuse at once (no slice of it is held).
func (p *Pool) Put(c *Chunk) {
	p.unreserve()
	if p.cached() < cacheMax {
		p.free = append(p.free, c)
	}
}

// Retire gives a chunk back that a caller may still read (Peek before
// Consume): it is reused only after the next Recycle. A private pool
// reuses it at once, since only its own queue could take it.
func (p *Pool) Retire(c *Chunk) {
	if p.private {
		p.Put(c)
		return
	}
	p.unreserve()
	if len(p.retired) < retiredMax {
		p.retired = append(p.retired, c)
	}
}

func (p *Pool) unreserve() {
	p.inUse--
	if p.reserved++; p.reserved > 2*Batch {
		p.budget.release(Batch * Size)
		p.reserved -= Batch
	}
}

// Recycle makes the chunks put since the last call reusable. The owner
// calls it when no slice returned by a queue's Peek or Slice before a
// Consume can still be in use (between loop iterations).
func (p *Pool) Recycle() {
	for i, c := range p.retired {
		if p.cached() < cacheMax {
			p.free = append(p.free, c)
		}
		p.retired[i] = nil
	}
	p.retired = p.retired[:0]
	for i, s := range p.warmRetired {
		p.warm = append(p.warm, s)
		p.warmRetired[i] = nil
	}
	p.warmRetired = p.warmRetired[:0]
}

// cached is the free chunks kept for reuse, warm ones included.
func (p *Pool) cached() int { return len(p.free) + len(p.warm) }

// putWarm keeps the state of a queue that emptied holding one chunk in
// a one-slot directory, whole (see Pool.warm); false when the cache is
// full. retire: the chunk may still be read until Recycle.
func (p *Pool) putWarm(s *qstate, retire bool) bool {
	if p.private {
		retire = false
	}
	l := &p.warm
	if retire {
		l = &p.warmRetired
	}
	if len(*l) >= warmMax || p.cached()+len(p.warmRetired) >= cacheMax {
		return false
	}
	p.unreserve()
	s.warm()
	*l = append(*l, s)
	return true
}

// warm makes s the state of an empty queue whose one-slot directory
// keeps its chunk in dir[0]: qstate{dir: s.dir, span: 1, chunks: 1},
// stored field by field. The composite literal is built on the stack and
// copied in 16-octet moves that load across the 8-octet stores just made
// (a store-forwarding stall): 8.6% of tcp's BenchmarkEcho, 1.8% this way.
// TestWarmResetsEveryField keeps the two forms equal.
func (s *qstate) warm() {
	s.lent, s.held = nil, nil
	s.dh, s.off, s.n, s.ext = 0, 0, 0, 0
	s.span, s.chunks = 1, 1
}

// getWarm returns a warm state, its chunk in use (the first chunk of an
// empty queue, granted as Get with must grants it), or nil when none is
// kept.
func (p *Pool) getWarm() *qstate {
	if len(p.warm) == 0 || !p.take(true) {
		return nil
	}
	return pop(&p.warm)
}

// Stats returns the pool's counters.
func (p *Pool) Stats() PoolStats {
	s := p.stats
	s.InUse, s.Cached, s.Retired, s.Reserved = p.inUse, p.cached(), len(p.retired)+len(p.warmRetired), p.reserved
	return s
}

// getDir returns a zeroed directory of at least n slots (a power of two).
func (p *Pool) getDir(n int) []*Chunk {
	c := bits.Len(uint(n - 1))
	if c < dirClasses {
		if l := p.dirs[c]; len(l) > 0 {
			d := l[len(l)-1]
			l[len(l)-1] = nil
			p.dirs[c] = l[:len(l)-1]
			return d
		}
	}
	return make([]*Chunk, 1<<c)
}

// putDir gives back a directory whose slots are all nil.
func (p *Pool) putDir(d []*Chunk) {
	c := bits.Len(uint(len(d) - 1))
	if c < dirClasses && len(p.dirs[c]) < dirCache {
		p.dirs[c] = append(p.dirs[c], d)
	}
}

// getState returns a zeroed queue state.
func (p *Pool) getState() *qstate {
	if s := pop(&p.states); s != nil {
		return s
	}
	return new(qstate)
}

// pop takes the last of a LIFO of spares (nil when there is none),
// clearing its slot so the list does not keep it alive.
func pop[T any](l *[]*T) *T {
	n := len(*l)
	if n == 0 {
		return nil
	}
	x := (*l)[n-1]
	(*l)[n-1] = nil
	*l = (*l)[:n-1]
	return x
}

// putState gives back the state of a queue that emptied.
func (p *Pool) putState(s *qstate) {
	if len(p.states) < stateCache {
		*s = qstate{}
		p.states = append(p.states, s)
	}
}
