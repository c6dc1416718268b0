package tcp

import (
	"testing"
	"unsafe"
)

// TestTCBSize reports the memory of a connection: the TCB struct plus its
// send and receive buffers (allocated once, at creation).
func TestTCBSize(t *testing.T) {
	cfg := DefaultConfig()
	s := unsafe.Sizeof(TCB{})
	t.Logf("TCB struct %d bytes; with default buffers %d bytes", s, int(s)+cfg.SendBuffer+cfg.RecvBuffer)
	if s > 1152 { // 640 before loss recovery; scoreboard, CUBIC, recovery, Stats add ~290
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
