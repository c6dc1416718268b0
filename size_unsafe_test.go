package sluice

import (
	"testing"
	"unsafe"
)

// TestConnSize guards the public Conn's share of an idle connection's
// memory (docs/design.md, "An idle connection's memory"): 96 octets, a
// Go size class (112 before the server and handler moved to the shared
// binding, 176 before the 4-tuple was packed, 128 before the fields only
// a blocking Dial needs moved to its loop's Context).
func TestConnSize(t *testing.T) {
	if s := unsafe.Sizeof(Conn{}); s > 96 {
		t.Errorf("Conn grew to %d octets, past the 96-octet size class", s)
	}
}

// TestNetConnSize guards a NetConn's size class (224): it holds its
// Conn's binding, so a net.Conn connection costs no more than before the
// binding moved out of the Conn.
func TestNetConnSize(t *testing.T) {
	if s := unsafe.Sizeof(NetConn{}); s > 224 {
		t.Errorf("NetConn grew to %d octets, past the 224-octet size class", s)
	}
}
