package sched

import (
	"testing"
	"unsafe"
)

// TestConnSize guards the slab element's share of an idle connection's
// memory (docs/design.md, "An idle connection's memory"). The slab
// stores elements back to back, so every octet counts: 192, with the
// application timer and options in connExt, held text behind a pointer
// and unread narrowed into sndMax's padding (248, then 200, before).
func TestConnSize(t *testing.T) {
	if s := unsafe.Sizeof(Conn{}); s > 192 {
		t.Errorf("sched.Conn grew to %d octets", s)
	}
}
