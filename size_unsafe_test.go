package sluice

import (
	"testing"
	"unsafe"
)

// TestConnSize guards the public Conn's share of an idle connection's
// memory (docs/design.md, "An idle connection's memory"): 112 octets,
// a Go size class (176 before the 4-tuple was packed, 128 before the
// fields only a blocking Dial needs moved to its loop's Context).
func TestConnSize(t *testing.T) {
	if s := unsafe.Sizeof(Conn{}); s > 112 {
		t.Errorf("Conn grew to %d octets, past the 112-octet size class", s)
	}
}
