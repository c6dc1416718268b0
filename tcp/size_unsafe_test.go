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
	// buffers +152 (and no buffer memory while idle). Stats are allocated
	// on the first counted event, the out-of-order and SACK ranges taken
	// from the loop's RangePool while there are holes (8 octets each
	// here). 1016 fits Go's 1024-octet size class.
	if s > 1016 {
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
