package main

import (
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/sluicenet/sluice/bench/loadgen"
)

const statText = `cpu  4761585 52389 3824670 2173302 3849 0 278672 0 0 0
cpu0 2460169 24241 1855926 1041324 871 0 160660 0 0 0
cpu1 2301416 28147 1968743 1131978 2978 0 118012 0 0 0
cpu10 1 1 1 7 7 0 0 0 0 0
intr 1 2 3
`

func TestParseCoreIdle(t *testing.T) {
	for _, c := range []struct {
		cpu  int
		want time.Duration
	}{
		{0, (1041324 + 871) * 10 * time.Millisecond},
		{1, (1131978 + 2978) * 10 * time.Millisecond},
		{10, 14 * 10 * time.Millisecond}, // not cpu1's line
	} {
		got, err := parseCoreIdle([]byte(statText), c.cpu)
		if err != nil || got != c.want {
			t.Errorf("cpu%d: %v, %v; want %v", c.cpu, got, err, c.want)
		}
	}
	if _, err := parseCoreIdle([]byte(statText), 2); err == nil {
		t.Error("cpu2 is not in the text: want an error")
	}
	if _, err := parseCoreIdle([]byte("cpu0 1 2 3\n"), 0); err == nil {
		t.Error("a short line: want an error")
	}
	// Busy time: user, nice, system, irq, softirq, steal (not guest).
	if _, busy, err := parseCoreTimes([]byte(statText), 1); err != nil || busy != (2301416+28147+1968743+118012)*10*time.Millisecond {
		t.Errorf("cpu1 busy %v, %v", busy, err)
	}
}

func TestOthersOnCore(t *testing.T) {
	// 2.5 s window, idle 0.5 s, the measured threads 1.5 s: others 0.5 s.
	if got := othersOnCore(2500*time.Millisecond, 500*time.Millisecond, 1500*time.Millisecond); got != 500*time.Millisecond {
		t.Errorf("others %v, want 500ms", got)
	}
	// The idle figure counts 10 ms ticks: never a negative share.
	if got := othersOnCore(time.Second, 10*time.Millisecond, 995*time.Millisecond); got != 0 {
		t.Errorf("others %v, want 0", got)
	}
}

func latencySample(p99, lag time.Duration, behind uint64, othersSrv, othersCli time.Duration) sample {
	res := &loadgen.Result{Elapsed: time.Second, Behind: behind,
		Latency: hdrhistogram.New(1, int64(time.Minute), 3), SendLag: hdrhistogram.New(1, int64(time.Minute), 3)}
	for range 100 {
		res.Latency.RecordValue(int64(p99))
		res.SendLag.RecordValue(int64(lag))
	}
	return sample{res: res, serverSpan: time.Second, othersServer: othersSrv, othersClient: othersCli}
}

func TestCleanRound(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct {
		name string
		s    sample
		want bool
	}{
		{"quiet", latencySample(2*ms, 100*time.Microsecond, 0, 20*ms, 100*ms), true},
		{"saturated", latencySample(2*ms, 100*time.Microsecond, 5, 0, 0), false},
		{"generator lag", latencySample(2*ms, ms, 0, 0, 0), false},
		{"others on the server core", latencySample(2*ms, 100*time.Microsecond, 0, 200*ms, 0), false},
		{"others on the client core", latencySample(2*ms, 100*time.Microsecond, 0, 0, 200*ms), false},
	} {
		if got := cleanRound(c.s); got != c.want {
			t.Errorf("%s: clean %v, want %v (others %.1f%% / %.1f%%)", c.name, got, c.want, c.s.othersPct(true), c.s.othersPct(false))
		}
	}
}

func TestCleanRoundsMet(t *testing.T) {
	met := func(x float64) bool { return x <= 0.5 }
	c := Result{Runs: []float64{1, 1, 0, 1}}
	o := Result{Runs: []float64{1, 0, 1, 1}}
	both, n := cleanRoundsMet(c, o, []float64{0.3, 0.2, 0.1, 0.9}, met)
	if both != 2 || n != 1 {
		t.Errorf("clean for both %d, met %d; want 2, 1", both, n)
	}
	if both, n := cleanRoundsMet(c, o, []float64{0.3}, met); both != 0 || n != 0 {
		t.Errorf("rounds not paired: %d, %d; want 0, 0", both, n)
	}
}
