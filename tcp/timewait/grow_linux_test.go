package timewait

import (
	"runtime"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/sluicenet/sluice/tcp"
)

// BenchmarkInsertGrow fills a table at the largest bound (MaxLimit) from
// empty, as a churning server does in its first 2*MSL, and reports the
// slowest single Insert: the pause every connection of the loop waits
// out when the table grows. Only the ring grows (a chunk as the tail
// reaches it, nothing moved); the index is sized by New and only has
// its pages touched for the first time. max-ns/insert is wall time (on a shared
// machine it includes being descheduled); max-cpu-ns/insert is the
// thread's CPU time, which does not; ms/fill is a second fill, not
// timed per call.
func BenchmarkInsertGrow(b *testing.B) {
	const n = MaxLimit
	ids := make([]tcp.ID, n)
	for i := range ids {
		ids[i] = flowN(i)
	}
	st := State{SndNxt: 1, RcvNxt: 2, TS: true}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var worst, worstCPU, total time.Duration
	b.ReportAllocs()
	for b.Loop() {
		tb := newTable(b, n)
		prev, prevCPU := time.Now(), threadCPU()
		for i := range ids {
			if !tb.Insert(&ids[i], &st, t0) {
				b.Fatalf("insert %d refused", i)
			}
			now, cpu := time.Now(), threadCPU()
			worst, worstCPU = max(worst, now.Sub(prev)), max(worstCPU, cpu-prevCPU)
			prev, prevCPU = now, cpu
		}
		tb = newTable(b, n) // again untimed per call, for the total
		start := time.Now()
		for i := range ids {
			tb.Insert(&ids[i], &st, t0)
		}
		total = time.Since(start)
	}
	b.ReportMetric(float64(worst.Nanoseconds()), "max-ns/insert")
	b.ReportMetric(float64(worstCPU.Nanoseconds()), "max-cpu-ns/insert")
	b.ReportMetric(float64(total.Milliseconds()), "ms/fill")
}

// threadCPU is the calling thread's CPU time.
func threadCPU() time.Duration {
	var ts syscall.Timespec
	const clockThreadCPUTime = 3 // CLOCK_THREAD_CPUTIME_ID
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTime, uintptr(unsafe.Pointer(&ts)), 0)
	return time.Duration(ts.Nano())
}
