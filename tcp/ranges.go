package tcp

// Range storage: the out-of-order ranges a receiver holds beyond RCV.NXT
// (oooQueue) and the SACKed ranges a sender holds above SND.UNA
// (scoreboard) exist only while the sequence space has holes, which an
// idle or request/response connection never has. So neither lives in the
// TCB: each queue points at a rangeSet taken from the loop's RangePool
// when its first range arrives and given back as soon as its last range
// is gone (merged, acknowledged, pruned or forgotten), so an idle
// connection pays 8 octets per queue, not 80 or more.

// rangeSet is the storage of one range queue: rangeInline slots, or,
// once a connection needed more, Config.MaxOOORanges slots (kept with
// the set in the pool, so a lossy path does not allocate them again per
// episode).
type rangeSet struct {
	inline [rangeInline]oooRange
	ext    []oooRange
}

// rangeInline is the number of ranges a rangeSet holds without its
// extension array.
const rangeInline = 8

// slots returns the storage of s (nil for none).
func (s *rangeSet) slots() []oooRange {
	switch {
	case s == nil:
		return nil
	case s.ext != nil:
		return s.ext
	}
	return s.inline[:]
}

// grow replaces s's inline slots, the first n in use, by limit slots.
func (s *rangeSet) grow(n, limit int) []oooRange {
	ext := make([]oooRange, limit)
	copy(ext, s.inline[:n])
	s.ext = ext
	return ext
}

// RangePool is a loop's free list of range storage (Config.Ranges). It
// is not safe for concurrent use: like the chunk Pool, one per loop.
type RangePool struct{ freeList[rangeSet] }

// rangePoolMax bounds the free list: after a burst of lossy connections
// a loop keeps at most this many sets (and their extension arrays, 2 KiB
// each by default) for the next.
const rangePoolMax = 256

// get returns an empty set whose extension, if any, has limit slots.
// A nil pool allocates.
func (p *RangePool) get(limit int) *rangeSet {
	if p == nil {
		return new(rangeSet)
	}
	s := p.take()
	if len(s.ext) != limit {
		s.ext = nil
	}
	return s
}

// put gives s back; a nil or full pool leaves it to the garbage
// collector.
func (p *RangePool) put(s *rangeSet) {
	if p == nil {
		return
	}
	p.give(s, rangePoolMax)
}

// rangesOf returns the storage a queue holding n ranges needs: *s, taken
// from the pool first if it has none.
func (t *TCB) rangesOf(s **rangeSet) *rangeSet {
	if *s == nil {
		*s = t.cfg.Ranges.get(t.cfg.maxOOORanges())
	}
	return *s
}

// putRanges gives a drained queue's storage *s back to the pool.
func (t *TCB) putRanges(s **rangeSet) {
	if *s != nil {
		t.cfg.Ranges.put(*s)
		*s = nil
	}
}

// dropRanges forgets both queues' ranges and gives their storage back:
// the connection closed, or went back to LISTEN.
func (t *TCB) dropRanges() {
	t.ooo.clear()
	t.putRanges(&t.ooo.s)
	t.sb.reset()
	t.putRanges(&t.sb.s)
}
