package loadgen

// Coordinated omission: a closed-loop generator sends request i+1 only after
// response i, so when the server stalls it stops sending, and the requests a
// real client would have sent during the stall are never measured — the
// stall shows up as one slow sample instead of many. An open-loop generator
// fixes the send times in advance (request i is due at start + i/rate) and
// measures every request from its intended send time, not from when a free
// connection finally let it go out. A request that waited behind a stall is
// charged for the wait, as its user would have been. (This is wrk2's
// correction, applied at the source rather than by back-filling samples.)

// schedule hands out the intended send times of an open-loop run.
type schedule struct {
	start    int64   // ns, intended time of request 0
	interval float64 // ns between intended sends (1e9 / rate)
	issued   uint64  // requests handed out so far
}

func newSchedule(start int64, rate float64) schedule {
	return schedule{start: start, interval: 1e9 / rate}
}

// intended is the intended send time of request i.
func (s *schedule) intended(i uint64) int64 {
	return s.start + int64(float64(i)*s.interval)
}

// next returns the intended send time of the next request if it is due by
// now and advances; a caller with a free connection calls it until !ok.
func (s *schedule) next(now int64) (int64, bool) {
	t := s.intended(s.issued)
	if t > now {
		return 0, false
	}
	s.issued++
	return t, true
}

// wait is how long until the next request is due (0: due now).
func (s *schedule) wait(now int64) int64 {
	if d := s.intended(s.issued) - now; d > 0 {
		return d
	}
	return 0
}

// behind is how many due requests have not been handed out by now: they
// wait for a free connection, their latency already running.
func (s *schedule) behind(now int64) uint64 {
	if now < s.start {
		return 0
	}
	due := uint64(float64(now-s.start)/s.interval) + 1
	if due <= s.issued {
		return 0
	}
	return due - s.issued
}

// latency of a request that completed at done: measured from its intended
// send time in open-loop runs (coordinated-omission corrected), from its
// actual send time in closed-loop runs (where the two are the same).
func latency(done, from int64) int64 {
	if d := done - from; d > 0 {
		return d
	}
	return 0
}
