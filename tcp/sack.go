package tcp

// The sender's SACK scoreboard (RFC 6675 §3, RFC 2018) and D-SACK
// detection (RFC 2883 §4). The scoreboard is a sorted array of SACKed
// ranges above SND.UNA, bounded whatever the peer sends, in storage from
// the loop's pool held only while a range is (ranges.go): eight, and, the
// first time a connection needs more, one array of Config.MaxOOORanges,
// kept with the storage (a window with more than eight
// holes is ordinary at 1% loss and a few hundred segments in flight;
// with eight, the sender forgot SACKed ranges and resent ~3 segments the
// peer held for each one lost). A peer whose blocks would need more
// ranges than that loses the highest ones from the board (counted in
// Stats.SACKOverflow); that only makes the sender more conservative (it
// may retransmit octets the peer holds, never skip octets it lacks).

type scoreboard struct {
	s      *rangeSet // the ranges' storage; nil while none is held
	n      int
	sacked uint32 // octets in the ranges
}

// reset forgets every range; the storage stays for the owner to give
// back (TCB.putRanges).
func (s *scoreboard) reset() { s.n, s.sacked = 0, 0 }

// slots returns the storage of the ranges: [:n] are in use.
func (s *scoreboard) slots() []oooRange { return s.s.slots() }

// high is RFC 6675's HighSACK end: the end of the highest SACKed range
// (valid when n > 0).
func (s *scoreboard) high() Seq { return s.slots()[s.n-1].r }

// add merges [l, r) into the board, growing it once to limit ranges; it
// returns false when a range had to be dropped for room.
func (s *scoreboard) add(l, r Seq, limit int) bool {
	rs := s.slots()
	ok := true
	i := 0
	for i < s.n && rs[i].r.LessThan(l) {
		i++
	}
	j := i
	for j < s.n && rs[j].l.LessEq(r) {
		if rs[j].l.LessThan(l) {
			l = rs[j].l
		}
		if rs[j].r.GreaterThan(r) {
			r = rs[j].r
		}
		s.sacked -= rs[j].r.Sub(rs[j].l)
		j++
	}
	if j == i {
		if s.n == len(rs) && s.n < limit {
			// Grow once, from the inline slots to the configured bound.
			rs = s.s.grow(s.n, limit)
		}
		if s.n == len(rs) {
			ok = false
			if i == s.n {
				return false // above every range and no room: forget it
			}
			// Drop the highest range to make room.
			s.n--
			s.sacked -= rs[s.n].r.Sub(rs[s.n].l)
		}
		copy(rs[i+1:s.n+1], rs[i:s.n])
		s.n++
	} else if j > i+1 {
		copy(rs[i+1:], rs[j:s.n])
		s.n -= j - i - 1
	}
	rs[i].l, rs[i].r = l, r
	s.sacked += r.Sub(l)
	return ok
}

// ackTo forgets what lies below una (the cumulative ACK moved).
func (s *scoreboard) ackTo(una Seq) {
	rs := s.slots()
	k := 0
	for k < s.n && rs[k].r.LessEq(una) {
		s.sacked -= rs[k].r.Sub(rs[k].l)
		k++
	}
	if k > 0 {
		copy(rs[:], rs[k:s.n])
		s.n -= k
	}
	if s.n > 0 && rs[0].l.LessThan(una) {
		s.sacked -= una.Sub(rs[0].l)
		rs[0].l = una
	}
}

// skip returns seq moved past the SACKed range that holds it, if any.
func (s *scoreboard) skip(seq Seq) Seq {
	rs := s.slots()
	for i := range s.n {
		if rs[i].l.LessEq(seq) && seq.LessThan(rs[i].r) {
			return rs[i].r
		}
	}
	return seq
}

// above returns the octets SACKed beyond seq (RFC 6675 IsLost's count).
func (s *scoreboard) above(seq Seq) uint32 {
	rs := s.slots()
	var n uint32
	for i := s.n - 1; i >= 0; i-- {
		x := rs[i]
		if x.r.LessEq(seq) {
			break
		}
		if x.l.LessThan(seq) {
			n += x.r.Sub(seq)
			break
		}
		n += x.r.Sub(x.l)
	}
	return n
}

// inputSACK takes the SACK blocks of an acceptable ACK (after SND.UNA
// has moved to its cumulative ACK). It returns whether the blocks
// SACKed octets not SACKed before, and counts a D-SACK (RFC 2883 §4:
// the first block lies below the cumulative ACK, or inside the second
// block).
func (t *TCB) inputSACK(seg *Segment, now Instant) (newly bool) {
	o := &seg.Options
	if !t.has(flagSACK) || o.NumSACK == 0 {
		return false
	}
	for i := range int(min(o.NumSACK, MaxSACKBlocks)) {
		l, r := Seq(o.SACK[i].Left), Seq(o.SACK[i].Right)
		if !l.LessThan(r) || r.GreaterThan(t.sndMax) || r.Sub(l) > t.maxSndWnd+1 {
			// RFC 2018 §4 / RFC 6675 §5.1: nonsense blocks are ignored
			// (a block beyond what was sent cannot be honest).
			t.count().SACKInvalid++
			continue
		}
		if i == 0 && (r.LessEq(seg.Ack) || o.NumSACK > 1 && Seq(o.SACK[1].Left).LessEq(l) && r.LessEq(Seq(o.SACK[1].Right))) {
			t.inputDSACK(l, r, now)
			if x := t.rec.x; x != nil {
				x.dsack, x.dsackEnd = true, r
			}
			continue
		}
		if r.LessEq(t.sndUna) {
			continue
		}
		if l.LessThan(t.sndUna) {
			l = t.sndUna
		}
		t.recordsSACKed(l, r, now)
		before := t.sb.sacked
		t.rangesOf(&t.sb.s)
		if !t.sb.add(l, r, t.cfg.maxOOORanges()) {
			t.count().SACKOverflow++
		}
		if t.sb.sacked > before {
			newly = true
		}
	}
	return newly
}
