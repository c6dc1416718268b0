package sluice

import "testing"

// BenchmarkNoteHeld: publishing Write's held octets after a Write the
// send buffer took whole (0 before and after), against the atomic store
// made every time before.
func BenchmarkNoteHeld(b *testing.B) {
	var c Conn
	b.Run("noteHeld", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c.noteHeld(0)
		}
	})
	b.Run("store", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c.held.Store(0)
		}
	})
}

// TestNoteHeld: the value other goroutines read follows every change.
func TestNoteHeld(t *testing.T) {
	var c Conn
	for _, n := range []int{0, 5, 5, 0, 7} {
		c.noteHeld(n)
		if got := c.held.Load(); got != int64(n) {
			t.Fatalf("after noteHeld(%d): held %d", n, got)
		}
	}
}
