package timewait

import (
	"testing"
	"unsafe"
)

// Issue 4 / DESIGN.md: a TIME-WAIT entry costs at most 64 octets.
func TestEntrySize(t *testing.T) {
	if n := unsafe.Sizeof(entry{}); n > 64 {
		t.Fatalf("entry is %d octets, want <= 64", n)
	}
}

// entrySize is the octets of one ring entry, for BenchmarkBytesPerEntry.
func entrySize() float64 { return float64(unsafe.Sizeof(entry{})) }
