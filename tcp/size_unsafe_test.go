package tcp

import (
	"testing"
	"unsafe"
)

// TestTCBSize reports the memory of a connection: the TCB struct; its
// buffers hold chunks only while they hold text (tcp/chunk).
func TestTCBSize(t *testing.T) {
	cfg := DefaultConfig()
	s := unsafe.Sizeof(TCB{})
	t.Logf("TCB struct %d bytes; buffers up to %d+%d bytes while holding text", s, cfg.SendBuffer, cfg.RecvBuffer)
	// 640 before loss recovery; CUBIC and recovery add ~130; chunk-queue
	// buffers (24 octets each; their state, chunks and directory only
	// while they hold text). Stats are allocated on the first
	// counted event, the out-of-order and SACK ranges taken from the
	// loop's RangePool while there are holes (8 octets each here), the
	// per-flight sender state while a flight is out, and emissions are
	// built in the Config's scratch Segment. Clocks that need no
	// nanoseconds are 32-bit (msClock, secClock) and CUBIC's state is
	// float32 but for W_est. The 4-tuple is the FlowSink's (the loop's
	// connection table), not a 56-octet ID in every TCB. With the 8-octet
	// allocation header Go puts before objects over 512 octets, 568 is
	// the most that fits the 576-octet size class (640 before, 704 before
	// that, 1024 before that).
	if s > 568 {
		t.Errorf("TCB struct grew to %d bytes", s)
	}
}

func BenchmarkTCBSize(b *testing.B) {
	cfg := DefaultConfig()
	b.ReportAllocs()
	for b.Loop() {
		newTCB(&cfg, fuzzID, &nopSink{})
	}
	b.ReportMetric(float64(unsafe.Sizeof(TCB{})), "bytes/TCB-struct")
	b.ReportMetric(float64(int(unsafe.Sizeof(TCB{}))+cfg.SendBuffer+cfg.RecvBuffer), "bytes/TCB+buffers")
}
