package loadgen

import (
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

func TestScheduleIntendedTimes(t *testing.T) {
	s := newSchedule(1000, 1e6) // 1 M/s: one request per µs from t=1000 ns
	if _, ok := s.next(999); ok {
		t.Fatal("request 0 handed out before its time")
	}
	if w := s.wait(400); w != 600 {
		t.Fatalf("wait = %d, want 600", w)
	}
	if b := s.behind(3500); b != 3 {
		t.Fatalf("behind at 3500 = %d, want 3 (due at 1000, 2000, 3000)", b)
	}
	for i, want := range []int64{1000, 2000, 3000} {
		got, ok := s.next(3500)
		if !ok || got != want {
			t.Fatalf("next #%d = %d, %v; want %d", i, got, ok, want)
		}
	}
	if _, ok := s.next(3500); ok {
		t.Fatal("request 3 (due at 4000) handed out at 3500")
	}
	if b := s.behind(3500); b != 0 {
		t.Fatalf("behind = %d after handing out all due", b)
	}
}

// simulate drives a schedule the way Run does, against one connection to a
// server that answers in service time except for one stall, on a virtual
// clock. It returns the latency histograms measured from the intended send
// time (what Run records) and from the actual send time (what a naive
// generator would record).
func simulate(rate float64, total int, service, stallAt, stall time.Duration) (corrected, naive *hdrhistogram.Histogram) {
	corrected = hdrhistogram.New(1, maxLatency, 3)
	naive = hdrhistogram.New(1, maxLatency, 3)
	s := newSchedule(0, rate)
	var free int64 // when the one connection is free again
	stalled := false
	for range total {
		now := max(free, s.intended(s.issued)) // the loop wakes at the later of the two
		intended, ok := s.next(now)
		if !ok {
			panic("schedule refused a due request")
		}
		d := int64(service)
		if !stalled && now >= int64(stallAt) {
			d, stalled = int64(stall), true
		}
		done := now + d
		corrected.RecordValue(latency(done, intended))
		naive.RecordValue(latency(done, now))
		free = done
	}
	return corrected, naive
}

// TestCoordinatedOmissionCorrection: at 1000 requests/s a 100 ms stall
// delays the ~100 requests due during it. Measured from their intended
// times, about 10% of requests are slower than 1 ms and p99 is tens of ms;
// measured naively from when they went out, only the one stalled request
// is slow and p99 is the service time.
func TestCoordinatedOmissionCorrection(t *testing.T) {
	corrected, naive := simulate(1000, 1000, 10*time.Microsecond, 500*time.Millisecond, 100*time.Millisecond)
	if corrected.TotalCount() != 1000 || naive.TotalCount() != 1000 {
		t.Fatalf("counts %d, %d", corrected.TotalCount(), naive.TotalCount())
	}
	if p := naive.ValueAtQuantile(99); p > int64(20*time.Microsecond) {
		t.Errorf("naive p99 = %v, want the service time", time.Duration(p))
	}
	if p := corrected.ValueAtQuantile(99); p < int64(80*time.Millisecond) {
		t.Errorf("corrected p99 = %v, want > 80ms (requests queued behind the stall)", time.Duration(p))
	}
	// Requests due during the stall: one per ms for 100 ms, each charged
	// from its own due time, so latencies spread from ~100 ms down to 0.
	var over1ms int64
	for _, b := range corrected.Distribution() {
		if b.From >= int64(time.Millisecond) {
			over1ms += b.Count
		}
	}
	if over1ms < 95 || over1ms > 105 {
		t.Errorf("%d requests slower than 1ms, want ~100 (the stall's backlog)", over1ms)
	}
	if p := corrected.ValueAtQuantile(50); p > int64(20*time.Microsecond) {
		t.Errorf("corrected p50 = %v: the backlog must drain and later requests be fast again", time.Duration(p))
	}
}

func TestLatencyNeverNegative(t *testing.T) {
	if l := latency(5, 10); l != 0 {
		t.Fatalf("latency(5, 10) = %d", l)
	}
	if l := latency(10, 4); l != 6 {
		t.Fatalf("latency(10, 4) = %d", l)
	}
}
