package impair

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sluicenet/sluice/testbed"
)

// fifoThreads counts this process's threads in SCHED_FIFO
// (/proc/self/task/*/stat, field 41: the policy).
func fifoThreads(t *testing.T) int {
	t.Helper()
	stats, err := filepath.Glob("/proc/self/task/*/stat")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the thread ended
		}
		// Fields after the command name, which is in parentheses.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 38 && f[38] == "1" { // field 41 is f[41-3]
			n++
		}
	}
	return n
}

// TestForwardRealtime runs the forwarder at a real-time priority on one
// CPU: each of its four goroutines (a reader and a sender each way) gets
// a SCHED_FIFO thread of its own, the traffic crosses intact, and the
// threads end with the forwarder instead of going back to Go's pool.
func TestForwardRealtime(t *testing.T) {
	before := fifoThreads(t)
	imp := Impairment{Delay: time.Millisecond}
	cpu := runtime.NumCPU() - 1
	b, f := startBed(t, Config{Seed: 3, ToPeer: imp, ToServer: imp, Priority: 2, CPUs: []int{cpu}})
	if got := fifoThreads(t) - before; got != 4 {
		t.Errorf("%d new SCHED_FIFO threads, want 4 (a reader and a sender each way)", got)
	}
	sum, got := linuxTransfer(t, b, b.Server.IPv4, 1<<20)
	if sum != got {
		t.Fatalf("sha256 sent %x, received %x", sum, got)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	testbed.WaitFor(t, "the forwarder's SCHED_FIFO threads to end", func() bool { return fifoThreads(t) == before })
	m := testbed.New(t, testbed.Options{Middle: true}).Middle
	if f, err := Start(m, Config{Priority: 100}); err == nil {
		f.Close()
		t.Error("Start took SCHED_FIFO priority 100 (the range is 1-99)")
	}
}
