package tcp

import (
	"testing"
	"time"
)

// The pacer releases batches of about one horizon of data per wake-up,
// keeps the average rate whatever the release granularity, and lets the
// initial window go unpaced.
func TestPacerBatches(t *testing.T) {
	var p pacer
	const rate = 12_500_000 // 100 Mbit/s: 1000 octets per 80 µs
	now := Instant(0)
	sent := 0
	burst := func() int {
		k := 0
		for p.ready(now) {
			p.sent(1000, rate, now)
			k++
			if k > 1000 {
				t.Fatal("pacer never blocks")
			}
		}
		return k
	}
	if k := burst(); k < paceUnpacedSegs || k > paceUnpacedSegs+int(paceHorizon.Nanoseconds()/80000)+1 {
		t.Fatalf("first burst %d segments, want the initial 10 plus one horizon", k)
	}
	sent = 0
	var wakes int
	start := now
	for now < start.Add(time.Second) {
		// The wheel fires at the next 1 ms tick at or after wake.
		w := p.wake()
		now = (w + ms - 1) / ms * ms
		if now < w {
			t.Fatal("woke early")
		}
		k := burst()
		if k == 0 {
			t.Fatalf("wake at %v released nothing", now)
		}
		if k > 2*int(paceHorizon.Nanoseconds()/80000)+1 {
			t.Fatalf("batch of %d segments: more than two horizons", k)
		}
		sent += k
		wakes++
	}
	got := float64(sent*1000) / now.Sub(start).Seconds()
	if got < 0.98*rate || got > 1.03*rate {
		t.Fatalf("paced at %.0f octets/s, want %d", got, rate)
	}
	if wakes > 1100 {
		t.Fatalf("%d wake-ups in a second: more than one per tick", wakes)
	}
	// Unpaced (rate 0): always ready.
	var q pacer
	for range 100 {
		q.sent(1000, 0, 0)
	}
	if !q.ready(0) {
		t.Fatal("rate 0 paced")
	}
}

// Linux tcp_update_pacing_rate: 2x cwnd/SRTT in slow start, 1.2x after;
// the flight counts when it exceeds cwnd.
func TestWindowPacingRate(t *testing.T) {
	srtt := 10 * time.Millisecond
	if r := windowPacingRate(100000, 1<<30, 0, srtt); r != 20_000_000 {
		t.Fatalf("slow start rate %d, want 2*cwnd/SRTT", r)
	}
	if r := windowPacingRate(100000, 150000, 0, srtt); r != 12_000_000 {
		t.Fatalf("CA rate %d, want 1.2*cwnd/SRTT", r)
	}
	if r := windowPacingRate(100000, 150000, 200000, srtt); r != 24_000_000 {
		t.Fatalf("flight above cwnd: rate %d", r)
	}
	if windowPacingRate(100000, 150000, 0, 0) != 0 {
		t.Fatal("no SRTT: paced")
	}
}
