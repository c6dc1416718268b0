package tcp

// The sender's SACK scoreboard (RFC 6675 §3, RFC 2018) and D-SACK
// detection (RFC 2883 §4). The scoreboard is a fixed array of SACKed
// ranges above SND.UNA: no allocation, bounded memory whatever the peer
// sends. A peer whose blocks would need more ranges than fit loses the
// highest ones from the board (counted in Stats.SACKOverflow); that only
// makes the sender more conservative (it may retransmit octets the peer
// holds, never skip octets it lacks).

// maxScore is the number of SACKed ranges the sender tracks.
const maxScore = 8

type scoreboard struct {
	r      [maxScore]struct{ l, r Seq }
	n      uint8
	sacked uint32 // octets in the ranges
}

func (s *scoreboard) reset() { s.n, s.sacked = 0, 0 }

// high is RFC 6675's HighSACK end: the end of the highest SACKed range
// (valid when n > 0).
func (s *scoreboard) high() Seq { return s.r[s.n-1].r }

// add merges [l, r) into the board; it returns false when a range had to
// be dropped for room.
func (s *scoreboard) add(l, r Seq) bool {
	ok := true
	i := 0
	for i < int(s.n) && s.r[i].r.LessThan(l) {
		i++
	}
	j := i
	for j < int(s.n) && s.r[j].l.LessEq(r) {
		if s.r[j].l.LessThan(l) {
			l = s.r[j].l
		}
		if s.r[j].r.GreaterThan(r) {
			r = s.r[j].r
		}
		s.sacked -= s.r[j].r.Sub(s.r[j].l)
		j++
	}
	if j == i {
		if s.n == maxScore {
			ok = false
			if i == maxScore {
				return false // above every range and no room: forget it
			}
			// Drop the highest range to make room.
			s.n--
			s.sacked -= s.r[s.n].r.Sub(s.r[s.n].l)
		}
		copy(s.r[i+1:s.n+1], s.r[i:s.n])
		s.n++
	} else if j > i+1 {
		copy(s.r[i+1:], s.r[j:s.n])
		s.n -= uint8(j - i - 1)
	}
	s.r[i].l, s.r[i].r = l, r
	s.sacked += r.Sub(l)
	return ok
}

// ackTo forgets what lies below una (the cumulative ACK moved).
func (s *scoreboard) ackTo(una Seq) {
	k := 0
	for k < int(s.n) && s.r[k].r.LessEq(una) {
		s.sacked -= s.r[k].r.Sub(s.r[k].l)
		k++
	}
	if k > 0 {
		copy(s.r[:], s.r[k:s.n])
		s.n -= uint8(k)
	}
	if s.n > 0 && s.r[0].l.LessThan(una) {
		s.sacked -= una.Sub(s.r[0].l)
		s.r[0].l = una
	}
}

// skip returns seq moved past the SACKed range that holds it, if any.
func (s *scoreboard) skip(seq Seq) Seq {
	for i := range int(s.n) {
		if s.r[i].l.LessEq(seq) && seq.LessThan(s.r[i].r) {
			return s.r[i].r
		}
	}
	return seq
}

// above returns the octets SACKed beyond seq (RFC 6675 IsLost's count).
func (s *scoreboard) above(seq Seq) uint32 {
	var n uint32
	for i := int(s.n) - 1; i >= 0; i-- {
		x := s.r[i]
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
			t.stats.SACKInvalid++
			continue
		}
		if i == 0 && (r.LessEq(seg.Ack) || o.NumSACK > 1 && Seq(o.SACK[1].Left).LessEq(l) && r.LessEq(Seq(o.SACK[1].Right))) {
			t.inputDSACK(l, r, now)
			continue
		}
		if r.LessEq(t.sndUna) {
			continue
		}
		if l.LessThan(t.sndUna) {
			l = t.sndUna
		}
		before := t.sb.sacked
		if !t.sb.add(l, r) {
			t.stats.SACKOverflow++
		}
		if t.sb.sacked > before {
			newly = true
		}
	}
	return newly
}
