package sluice

import (
	"testing"
	"unsafe"
)

// TestConnSize guards the public Conn's share of an idle connection's
// memory (docs/design.md, "An idle connection's memory"): 128 octets,
// Go's 128-octet size class (176 before the 4-tuple was packed).
func TestConnSize(t *testing.T) {
	if s := unsafe.Sizeof(Conn{}); s > 128 {
		t.Errorf("Conn grew to %d octets, past the 128-octet size class", s)
	}
}
