package chunk

import "unsafe"

// Queue is a byte queue on chunks: a connection's send or receive
// buffer. See the package doc for positions, Extent and held text. The
// zero value is an empty queue of Limit 0; Init gives it a pool and a
// limit.
//
// A Queue is part of every connection, idle ones included, so it is 24
// octets: its pool, its limit and a pointer to its state (positions,
// counts, the chunk directory, held text), which is taken from the pool
// when the queue first stores something and given back when it is empty
// again. Positions are 32-bit: Limit is capped at MaxLimit.
type Queue struct {
	pool  *Pool
	s     *qstate // nil while the queue is empty
	limit int32
	// retire: consumed chunks may still be read (a receive queue whose
	// Peek precedes Consume): they go back through Pool.Retire.
	retire bool
}

// qstate is a non-empty queue's state (64 octets).
type qstate struct {
	dir []*Chunk // circular, a power of two long; nil with no chunk
	// lent, when not nil, lists the slots of dir that stand for lent
	// memory (lend.go).
	lent *lending
	// held, when not nil, is the first of all n used octets, still in
	// the memory of the segment that carried them; their positions are
	// reserved but hold no chunk until Spill.
	held   *byte
	dh     int32 // dir slot of the chunk holding position 0
	off    int32 // offset of position 0 in that chunk
	span   int32 // dir slots from dh that may hold a chunk
	chunks int32 // chunks held
	n      int32 // used octets, from position 0
	ext    int32 // positions reserved or written: >= n
}

// Init empties q (giving its chunks back) and sets its pool and limit. A
// nil pool keeps q's pool if it has one, else gives q a private pool with
// no budget. retire says consumed chunks may still be read after Consume
// (a receive queue: see Pool.Retire).
func (q *Queue) Init(p *Pool, limit int, retire bool) {
	q.Reset()
	if p == nil {
		if p = q.pool; p == nil {
			p = NewPool(nil)
			p.private = true
		}
	}
	q.pool, q.limit, q.retire = p, clampLimit(limit), retire
}

// MaxLimit is the largest Limit a Queue takes (larger ones are cut to
// it): positions are 32-bit.
const MaxLimit = 1<<31 - 1 - Size

func clampLimit(l int) int32 { return int32(max(0, min(l, MaxLimit))) }

// Reset gives every chunk and the state back and forgets all text, held
// or stored.
func (q *Queue) Reset() {
	s := q.s
	if s == nil {
		return
	}
	if s.chunks == 1 && len(s.dir) == 1 && s.lent == nil && q.pool.putWarm(s, q.retire) {
		q.s = nil
		return
	}
	q.release(int(s.span))
	if s.dir != nil {
		q.pool.putDir(s.dir)
	}
	q.s = nil
	q.pool.putState(s)
}

// state returns q's state, taking one from the pool for an empty queue.
func (q *Queue) state() *qstate {
	if q.s == nil {
		q.s = q.pool.getState()
	}
	return q.s
}

// settle gives the state back when a write stored nothing in an empty
// queue (the budget refused its chunk).
func (q *Queue) settle() {
	if s := q.s; s != nil && s.ext == 0 && s.held == nil && s.chunks == 0 {
		q.Reset()
	}
}

// Limit is the queue's size in the TCP sense: Free is Limit - Len.
func (q *Queue) Limit() int { return int(q.limit) }

// SetLimit changes the limit (auto-tuning). Lowering it below Len only
// stops new text; nothing stored is dropped.
func (q *Queue) SetLimit(l int) { q.limit = clampLimit(l) }

// Len is the used octets.
func (q *Queue) Len() int {
	if q.s == nil {
		return 0
	}
	return int(q.s.n)
}

// Free is the room left under the limit.
func (q *Queue) Free() int { return max(0, int(q.limit)-q.Len()) }

// Extent is one past the highest position reserved or written (>= Len).
func (q *Queue) Extent() int {
	if q.s == nil {
		return 0
	}
	return int(q.s.ext)
}

// Room is the octets past Extent that the chunks q holds can take
// without another chunk; a queue holding none counts the chunks it is
// always granted (one, or those held text will be spilled into). Under
// memory pressure the TCB offers no more than this (window, Write).
func (q *Queue) Room() int {
	s := q.s
	if s == nil {
		return Size
	}
	end := int(s.off) + int(s.ext)
	if s.chunks == 0 {
		return max(Size, (end+Size-1)&^(Size-1)) - end
	}
	return max(0, int(s.span)*Size-end)
}

// Retires reports that consumed chunks go back through Pool.Retire (a
// receive queue, Init's retire).
func (q *Queue) Retires() bool { return q.retire }

// Chunks is the number of chunks q holds.
func (q *Queue) Chunks() int {
	if q.s == nil {
		return 0
	}
	return int(q.s.chunks)
}

// Held reports that the used octets are still in a segment's memory.
func (q *Queue) Held() bool { return q.s != nil && q.s.held != nil }

// heldText is the held text (nil when none).
func (s *qstate) heldText() []byte {
	if s.held == nil {
		return nil
	}
	return unsafe.Slice(s.held, s.n)
}

// Pool is the queue's pool.
func (q *Queue) Pool() *Pool { return q.pool }

// WriteAt copies p to positions Len+off.. without marking them used
// (reassembly). It returns the octets stored: fewer than len(p) when the
// budget refused a chunk (a queue with no chunk always gets one). The
// caller bounds off+len(p) by Free.
func (q *Queue) WriteAt(off int, p []byte) int { return q.write(q.Len()+off, p, false) }

// Push appends p, bounded by Free and the budget, and returns the octets
// taken.
func (q *Queue) Push(p []byte) int {
	w := q.write(q.Len(), p[:min(len(p), q.Free())], false)
	if w > 0 {
		q.s.n += int32(w)
	}
	return w
}

// Append adds p as in-order received text and returns the octets taken.
// hold asks to keep p's memory instead of copying: granted only when the
// queue holds no used text (so held text is the whole used part and Peek
// stays one slice); the caller must Spill before that memory is reused.
func (q *Queue) Append(p []byte, hold bool) int {
	if hold && q.Len() == 0 && len(p) > 0 {
		s := q.state()
		s.held = unsafe.SliceData(p)
		s.n = int32(len(p))
		s.ext = max(s.ext, s.n)
		return len(p)
	}
	q.Spill()
	w := q.write(q.Len(), p, false)
	if w > 0 {
		q.s.n += int32(w)
	}
	return w
}

// Extend marks k more octets used: text WriteAt stored past Len that is
// now in order (the hole before it was filled).
func (q *Queue) Extend(k int) {
	if k <= 0 {
		return
	}
	q.Spill() // held text is all the used octets: it cannot be extended
	s := q.state()
	s.n += int32(k)
	s.ext = max(s.ext, s.n)
}

// Spill copies held text into chunks at its reserved positions. It
// cannot be refused: the text was accepted (forced chunks are counted).
func (q *Queue) Spill() {
	s := q.s
	if s == nil || s.held == nil {
		return
	}
	h := s.heldText()
	s.held = nil
	q.write(0, h, true)
}

// write stores p at position pos, taking chunks as needed, and returns
// the octets stored (all of them with must).
func (q *Queue) write(pos int, p []byte, must bool) int {
	if len(p) == 0 {
		return 0
	}
	if q.s == nil && pos < Size {
		q.s = q.pool.getWarm() // slot 0 is the first written: its chunk
	}
	s := q.state()
	w := 0
	for w < len(p) {
		abs := int(s.off) + pos + w
		c := q.chunk(abs>>Shift, must)
		if c == nil {
			break
		}
		w += copy(c[abs&(Size-1):], p[w:])
	}
	if w > 0 {
		s.ext = max(s.ext, int32(pos+w))
	} else {
		q.settle()
	}
	return w
}

// chunk returns the chunk of slot k (from dh), taking one from the pool
// if the slot is empty; nil when the budget refuses.
func (q *Queue) chunk(k int, must bool) *Chunk {
	s := q.s
	if k >= len(s.dir) {
		q.growDir(k + 1)
	}
	j := (int(s.dh) + k) & (len(s.dir) - 1)
	c := s.dir[j]
	if c == nil {
		if c = q.pool.Get(must || s.chunks == 0); c == nil {
			return nil
		}
		s.dir[j] = c
		s.chunks++
	}
	s.span = max(s.span, int32(k+1))
	return c
}

// growDir moves the directory to one of at least n slots, in order from 0.
func (q *Queue) growDir(n int) {
	s := q.s
	d := q.pool.getDir(n)
	if s.dir != nil {
		m := len(s.dir) - 1
		for i := range int(s.span) {
			d[i] = s.dir[(int(s.dh)+i)&m]
			s.dir[(int(s.dh)+i)&m] = nil
		}
		q.pool.putDir(s.dir)
	}
	s.dir, s.dh = d, 0
}

// at returns the chunk and offset holding position pos (stored text).
func (q *Queue) at(pos int) (*Chunk, int) {
	s := q.s
	abs := int(s.off) + pos
	return s.dir[(int(s.dh)+abs>>Shift)&(len(s.dir)-1)], abs & (Size - 1)
}

// ReadAt copies used octets from position off into p.
func (q *Queue) ReadAt(off int, p []byte) int {
	q.Spill()
	k := min(len(p), q.Len()-off)
	r := 0
	for r < k {
		c, i := q.at(off + r)
		r += copy(p[r:k], c[i:])
	}
	return max(r, 0)
}

// Peek returns the first used octets without copying: the held text, or
// the runs in the first two chunks (the rest after Consume). They stay
// valid until the pool's next Recycle.
func (q *Queue) Peek() (a, b []byte) {
	s := q.s
	if s == nil || s.n == 0 {
		return nil, nil
	}
	if s.held != nil {
		return s.heldText(), nil
	}
	c, i := q.at(0)
	a = c[i:min(i+int(s.n), Size)]
	if rest := int(s.n) - len(a); rest > 0 {
		c, _ = q.at(len(a))
		b = c[:min(rest, Size)]
	}
	return a, b
}

// Runs appends every used octet to dst as runs without copying (the held
// text, or one run per chunk) and returns it. They stay valid after
// Consume until the pool's next Recycle (a receive queue).
func (q *Queue) Runs(dst [][]byte) [][]byte {
	s := q.s
	if s == nil {
		return dst
	}
	if s.held != nil {
		return append(dst, s.heldText())
	}
	for n, pos := int(s.n), 0; pos < n; {
		c, i := q.at(pos)
		r := c[i:min(i+n-pos, Size)]
		dst = append(dst, r)
		pos += len(r)
	}
	return dst
}

// Slice returns up to k used octets from position off, contiguous in one
// chunk (fewer when they cross into the next).
func (q *Queue) Slice(off, k int) []byte {
	q.Spill()
	k = min(k, q.Len()-off)
	if k <= 0 {
		return nil
	}
	c, i := q.at(off)
	return c[i:min(i+k, Size)]
}

// Gather returns up to k used octets from position off as one slice: in
// place when they lie in one chunk, else copied into the pool's scratch
// (valid until the next Gather on the pool). Segments are built from it
// for a Sink that takes a single run.
func (q *Queue) Gather(off, k int) []byte {
	a := q.Slice(off, k)
	k = min(k, q.Len()-off)
	if len(a) >= k {
		return a
	}
	p := q.pool
	if cap(p.scratch) < k {
		p.scratch = make([]byte, max(k, 2*Size))
	}
	return p.scratch[:q.ReadAt(off, p.scratch[:k])]
}

// Runs2 returns up to k used octets from position off as two runs,
// without a copy: a, in place up to the end of its chunk, and the first
// n octets of the next chunk, next (nil, 0 when a holds them all). With
// k at most Size that is all of them. A segment crossing a chunk is so
// copied once, from the chunks straight into its frame, rather than
// gathered first.
func (q *Queue) Runs2(off, k int) (a []byte, next *Chunk, n int) {
	a = q.Slice(off, k)
	k = min(k, q.Len()-off)
	if len(a) >= k {
		return a, nil, 0
	}
	next, _ = q.at(off + len(a))
	return a, next, min(k-len(a), Size)
}

// Consume drops k octets from the front; chunks passed go back to the
// pool, and when nothing is stored beyond, every chunk and the directory
// do.
func (q *Queue) Consume(k int) {
	k = min(k, q.Len())
	if k <= 0 {
		return
	}
	s := q.s
	s.n -= int32(k)
	s.ext -= int32(k)
	if h := s.held; h != nil {
		s.held = nil
		if s.n > 0 { // k octets in: still inside the segment's memory
			s.held = (*byte)(unsafe.Add(unsafe.Pointer(h), k))
		}
	}
	if s.ext == 0 {
		q.Reset()
		return
	}
	abs := int(s.off) + k
	s.off = int32(abs & (Size - 1))
	q.drop(abs >> Shift)
}

// drop gives back the first k slots and moves the head past them.
func (q *Queue) drop(k int) {
	s := q.s
	if s.dir == nil {
		return
	}
	m := len(s.dir) - 1
	d := min(k, int(s.span))
	q.release(d)
	s.dh = int32((int(s.dh) + k) & m)
	s.span -= int32(d)
}

// release gives back the chunks of the first k slots, and the lent runs
// among them.
func (q *Queue) release(k int) {
	s := q.s
	if s.dir == nil {
		return
	}
	m := len(s.dir) - 1
	for i := range k {
		j := (int(s.dh) + i) & m
		if c := s.dir[j]; c != nil {
			if s.isLent(i) {
				s.dir[j] = nil // the application's memory: not ours to keep
				continue
			}
			if q.retire {
				q.pool.Retire(c)
			} else {
				q.pool.Put(c)
			}
			s.dir[j] = nil
			s.chunks--
		}
	}
	q.unlend(k)
}

// Discard forgets stored text at positions from.. (from >= Len): the
// chunks wholly past it go back. Pruning out-of-order text under memory
// pressure (never acknowledged text, which is below Len).
func (q *Queue) Discard(from int) {
	s := q.s
	if s == nil {
		return
	}
	from = max(from, int(s.n))
	if from >= int(s.ext) {
		return
	}
	s.ext = int32(from)
	if s.ext == 0 {
		q.Reset()
		return
	}
	if s.dir == nil {
		return
	}
	keep := (int(s.off) + from + Size - 1) >> Shift // slots holding positions < from
	m := len(s.dir) - 1
	for i := keep; i < int(s.span); i++ {
		j := (int(s.dh) + i) & m
		if c := s.dir[j]; c != nil {
			q.pool.Put(c)
			s.dir[j] = nil
			s.chunks--
		}
	}
	s.span = min(s.span, int32(keep))
}
