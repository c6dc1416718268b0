package tcp

import "testing"

func TestSeqWrap(t *testing.T) {
	// RFC 9293 §3.4: comparisons are modulo 2^32.
	cases := []struct {
		a, b Seq
		less bool
	}{
		{1, 2, true},
		{2, 1, false},
		{0xffffffff, 0, true},
		{0xfffffff0, 0x10, true},
		{0x10, 0xfffffff0, false},
		{5, 5, false},
	}
	for _, c := range cases {
		if got := c.a.LessThan(c.b); got != c.less {
			t.Errorf("%#x < %#x = %v, want %v", c.a, c.b, got, c.less)
		}
		if got := c.b.GreaterThan(c.a); got != c.less {
			t.Errorf("%#x > %#x = %v, want %v", c.b, c.a, got, c.less)
		}
	}
	if !Seq(0xfffffffe).InWindow(0xfffffff0, 0x20) || Seq(0x10).InWindow(0xfffffff0, 0x20) {
		t.Error("InWindow across wrap")
	}
	if Seq(0xffffffff).Add(2) != 1 || Seq(1).Sub(0xffffffff) != 2 {
		t.Error("Add/Sub across wrap")
	}
	if !Seq(3).InRange(3, 4) || Seq(4).InRange(3, 4) || Seq(3).InRange(3, 3) {
		t.Error("InRange bounds")
	}
}

func TestSegmentLen(t *testing.T) {
	s := Segment{Flags: FlagSYN | FlagFIN, Payload: make([]byte, 10)}
	if s.Len() != 12 {
		t.Fatalf("Len = %d, want 12", s.Len())
	}
	if (FlagSYN | FlagACK).String() != "SYN|ACK" {
		t.Fatalf("flags string %q", (FlagSYN | FlagACK).String())
	}
}
