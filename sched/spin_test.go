package sched

import "testing"

// The spinner keeps spinning while spins find work unpreempted, stops
// after misses (timeouts or preemptions), and probes again every
// spinProbe idle periods.
func TestSpinner(t *testing.T) {
	s := spinner{score: 1}
	for i := range 10 { // hits: spinning on, score capped
		if !s.spin() {
			t.Fatalf("hit %d: not spinning", i)
		}
		s.found(false)
	}
	if s.score != spinMax {
		t.Fatalf("score %d after hits, want %d", s.score, spinMax)
	}
	for i := range spinMax { // preempted spins and timeouts
		if !s.spin() {
			t.Fatalf("miss %d: stopped spinning early (score %d)", i, s.score)
		}
		if i%2 == 0 {
			s.preempted()
			s.found(false)
		} else {
			s.slept()
		}
	}
	for i := range spinProbe - 1 {
		if s.spin() {
			t.Fatalf("idle period %d after misses: spinning (score %d)", i, s.score)
		}
		s.slept()
	}
	if !s.spin() {
		t.Fatal("no probe spin after spinProbe idle periods")
	}
	s.found(true) // the probe was preempted: off again
	if s.spin() {
		t.Fatalf("spinning after a preempted probe (score %d)", s.score)
	}
	s.slept()
	// A preemption before the period spun (the busy iteration's own
	// length) does not count.
	s = spinner{score: 1}
	s.preempted()
	if !s.spin() {
		t.Fatal("not spinning")
	}
	s.found(false)
	if s.score != 2 {
		t.Fatalf("score %d, want 2", s.score)
	}
}
