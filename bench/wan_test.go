package main

import (
	"testing"
	"time"
)

// TestWanSize checks the sizes the matrix moves: 64 MiB lossless, the
// lossy cells small enough to finish (8 MiB at 20 ms, 4 MiB at 100 ms),
// 4 MiB with -short, and the environment overriding each.
func TestWanSize(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		short    bool
		cell     wanCell
		env, val string
		mib      int64
	}{
		{false, wanCell{rtt: 20 * ms}, "", "", 64},
		{false, wanCell{rtt: 100 * ms, rate: 100e6}, "", "", 64},
		{false, wanCell{rtt: 20 * ms, loss: 0.01}, "", "", 8},
		{false, wanCell{rtt: 100 * ms, loss: 0.01}, "", "", 4},
		{true, wanCell{rtt: 20 * ms}, "", "", 4},
		{true, wanCell{rtt: 20 * ms, loss: 0.01}, "", "", 4},
		{false, wanCell{rtt: 20 * ms}, "SLUICE_WAN_MIB", "16", 16},
		{false, wanCell{rtt: 100 * ms, loss: 0.01}, "SLUICE_WAN_MIB", "16", 4},
		{false, wanCell{rtt: 100 * ms, loss: 0.01}, "SLUICE_WAN_LOSS_MIB", "2", 2},
	} {
		if tc.env != "" {
			t.Setenv(tc.env, tc.val)
		}
		size, timeout := wanSize(config{short: tc.short}, tc.cell)
		if size != tc.mib<<20 || timeout < 45*time.Second {
			t.Errorf("short=%v %v %s=%s: %d MiB within %v, want %d MiB", tc.short, tc.cell, tc.env, tc.val, size>>20, timeout, tc.mib)
		}
		if tc.env != "" {
			t.Setenv(tc.env, "")
		}
	}
}

// TestWanNotes checks that a cell's ratio is the median of its rounds and
// its note counts the rounds at or above 1.
func TestWanNotes(t *testing.T) {
	f := &figures{workload: "wan"}
	const m = "sluice/Linux upload RTT 20ms loss 0%"
	for _, v := range []float64{0.9, 1.2, 1.0, 0.95, 1.1} {
		f.add("sluice", m, "×", higher, v)
	}
	f.add("sluice", "MB/s upload RTT 20ms loss 0%", "MB/s", higher, 80).Note = "64 MiB"
	wanNotes(f, map[string][]string{"MB/s upload RTT 20ms loss 0%": {"0/0", "3/1"}})
	rs := f.results()
	if rs[0].Value != 1.0 || rs[0].Note != "goodput ratio, median of per-round ratios; 3 of 5 rounds >= 1 (target >= 1)" {
		t.Errorf("ratio row: %v %q", rs[0].Value, rs[0].Note)
	}
	if rs[1].Note != "64 MiB; retransmits/RTOs by round 0/0 3/1" {
		t.Errorf("goodput row note %q", rs[1].Note)
	}
}
