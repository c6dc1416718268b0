package sched

import (
	"testing"
	"unsafe"
)

// TestConnSize guards the slab element's share of an idle connection's
// memory (docs/design.md, "An idle connection's memory"). The slab
// stores elements back to back, so every octet counts: 200, with the
// application timer and options in connExt and held text behind a
// pointer (248 before).
func TestConnSize(t *testing.T) {
	if s := unsafe.Sizeof(Conn{}); s > 200 {
		t.Errorf("sched.Conn grew to %d octets", s)
	}
}
