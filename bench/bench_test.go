package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicenet/sluice/testbed"
)

func TestMain(m *testing.M) { testbed.Main(m) }

// TestShortSuiteRuns runs the suite as `go run ./bench -short` does and
// checks that it ran: every implementation produced figures and the JSON
// report was written. It asserts no performance numbers (DESIGN: timing
// assertions do not belong in tests).
func TestShortSuiteRuns(t *testing.T) {
	testbed.Require(t)
	out := t.TempDir()
	c := config{short: true, duration: 300 * time.Millisecond, warmup: 100 * time.Millisecond, runs: 1,
		workloads: "reflector", out: out, serverCPU: 0, clientCPU: 0}
	if err := run(c); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range rep.Results {
		if r.Metric == "frames/s" && r.Value > 0 {
			seen[r.Impl] = true
		}
	}
	for _, r := range reflectors() {
		if !seen[r.name()] {
			t.Errorf("no frames/s figure for %s in %s", r.name(), b)
		}
	}
}

func TestMedian(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median odd = %v", m)
	}
	if m := median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("median even = %v", m)
	}
}

func TestReflectSwapsAndKeepsLength(t *testing.T) {
	f := make([]byte, 60)
	for i := range f {
		f[i] = byte(i)
	}
	f[14] = 0x45
	orig := append([]byte(nil), f...)
	reflect(f)
	reflect(f)
	if string(f) != string(orig) {
		t.Fatal("reflecting twice must restore the frame")
	}
	reflect(f)
	if f[0] != orig[6] || f[26] != orig[30] || f[34] != orig[36] {
		t.Fatal("MAC, IP or port not swapped")
	}
}
