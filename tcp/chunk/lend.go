package chunk

import "unsafe"

// Lent text: a send queue can take octets the application lends instead
// of copying them (Lend), as Linux's MSG_ZEROCOPY sends from the
// caller's pages. The whole pages of a lent run stand in the directory
// in place of chunks: each slot points into the lent memory, so every
// reader of the queue (Slice, Runs2, Gather, ReadAt) sees them as it sees
// chunks and segments are built straight from them. Positions map to
// slots in Size steps, so only a run that starts on a slot boundary can
// stand there: the octets before the next boundary (the head) and after
// the last whole page (the tail) are copied into chunks as Push copies,
// at most 2*Size-2 octets per run.
//
// A lent slot never goes back to the pool, takes no budget and is not
// counted in Chunks. When Consume (or Reset) passes the last page of a
// run, the run's release function is queued on the pool (Pool.TakeDone):
// the owner calls it at a point where the application may run, never from
// inside the TCB's input, so a release that lends the next run does not
// land in the queue being consumed.

// lentRun is one run's slots, relative to the directory head (dh):
// [from, to), moved down as the head moves.
type lentRun struct {
	from, to int32
	release  func()
}

// lending is a queue's lent runs, oldest first: held by its state only
// while it has some, so queues that never lend keep a 56-octet state.
type lending struct{ runs []lentRun }

// LendMin is the shortest run Lend takes without copying it whole: two
// pages, so at least one whole page can be lent whatever the alignment.
const LendMin = 2 * Size

// Lend appends p to a send queue, lending its whole pages rather than
// copying them, whatever Free says (the memory is the caller's, not the
// budget's). release is queued on the pool (TakeDone) once the queue no
// longer refers to p: the last of its pages consumed, or the queue
// reset; until then the caller must not change p. It returns the octets
// taken: len(p), or 0 (release not queued, nothing taken) for a receive
// queue, one holding text past Len, or a p shorter than LendMin, which
// the caller copies instead (Push).
func (q *Queue) Lend(p []byte, release func()) int {
	if q.retire || len(p) < LendMin || q.Extent() != q.Len() {
		return 0
	}
	s := q.state()
	abs := int(s.off) + int(s.n)
	h := (Size - abs&(Size-1)) & (Size - 1) // octets to the next slot boundary
	if h > 0 {
		q.write(int(s.n), p[:h], true)
		s.n += int32(h)
	}
	m := (len(p) - h) >> Shift
	k0 := (int(s.off) + int(s.n)) >> Shift // the first lent slot: its boundary
	if k0+m > len(s.dir) {
		q.growDir(k0 + m)
	}
	mask := len(s.dir) - 1
	for i := range m {
		j := (int(s.dh) + k0 + i) & mask
		if c := s.dir[j]; c != nil { // a chunk taken past Len: not needed
			q.pool.Put(c)
			s.chunks--
		}
		s.dir[j] = (*Chunk)(unsafe.Pointer(&p[h+i<<Shift]))
	}
	s.span = max(s.span, int32(k0+m))
	s.n += int32(m << Shift)
	s.ext = s.n
	if s.lent == nil {
		s.lent = q.pool.getLending()
	}
	s.lent.runs = append(s.lent.runs, lentRun{from: int32(k0), to: int32(k0 + m), release: release})
	if t := p[h+m<<Shift:]; len(t) > 0 {
		q.write(int(s.n), t, true)
		s.n += int32(len(t))
	}
	return len(p)
}

// Lent reports how many lent runs the queue still refers to.
func (q *Queue) Lent() int {
	if q.s == nil || q.s.lent == nil {
		return 0
	}
	return len(q.s.lent.runs)
}

// isLent reports whether slot i (from dh) stands for lent memory.
func (s *qstate) isLent(i int) bool {
	if s.lent == nil {
		return false
	}
	for _, r := range s.lent.runs {
		if int32(i) < r.from {
			return false
		}
		if int32(i) < r.to {
			return true
		}
	}
	return false
}

// unlend moves the runs down past the first k slots, which release has
// emptied, and queues the release of every run wholly among them.
func (q *Queue) unlend(k int) {
	s := q.s
	l := s.lent
	if l == nil {
		return
	}
	done := 0
	for i := range l.runs {
		r := &l.runs[i]
		if r.to <= int32(k) {
			q.pool.done = append(q.pool.done, r.release)
			*r = lentRun{}
			done++
			continue
		}
		r.from, r.to = max(0, r.from-int32(k)), r.to-int32(k)
	}
	if done == 0 {
		return
	}
	l.runs = l.runs[:copy(l.runs, l.runs[done:])]
	clear(l.runs[len(l.runs):cap(l.runs)])
	if len(l.runs) == 0 {
		q.pool.putLending(l)
		s.lent = nil
	}
}

// TakeDone appends the release functions of lent runs the pool's queues
// no longer refer to, oldest first, to dst and forgets them.
func (p *Pool) TakeDone(dst []func()) []func() {
	dst = append(dst, p.done...)
	clear(p.done)
	p.done = p.done[:0]
	return dst
}

// Done queues f as a released run's (text an owner copied instead of
// lending, released as soon as the owner can run it).
func (p *Pool) Done(f func()) { p.done = append(p.done, f) }

// RunDone calls the release functions queued so far, oldest first, and
// reports how many. One that lends again (or calls RunDone) queues its
// own for the next call: the list being run is not the one appended to.
func (p *Pool) RunDone() int {
	run := p.done
	if len(run) == 0 {
		return 0
	}
	p.done, p.doneSpare = p.doneSpare[:0], nil
	for i, f := range run {
		run[i] = nil
		if f != nil {
			f()
		}
	}
	if p.doneSpare == nil {
		p.doneSpare = run[:0]
	}
	return len(run)
}

func (p *Pool) getLending() *lending {
	if l := pop(&p.lendings); l != nil {
		return l
	}
	return new(lending)
}

func (p *Pool) putLending(l *lending) {
	if len(p.lendings) < dirCache {
		p.lendings = append(p.lendings, l)
	}
}
