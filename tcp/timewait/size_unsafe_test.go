package timewait

import (
	"testing"
	"unsafe"
)

// A TIME-WAIT entry costs at most 48 octets, so that with the index it
// stays within issue 13's 64 octets an entry at 1M entries.
func TestEntrySize(t *testing.T) {
	if n := unsafe.Sizeof(entry{}); n > 48 {
		t.Fatalf("entry is %d octets, want <= 48", n)
	}
}

// entrySize is the octets of one ring entry, for BenchmarkBytesPerEntry.
func entrySize() float64 { return float64(unsafe.Sizeof(entry{})) }
