package sluice

import (
	"testing"

	"golang.org/x/sys/unix"
)

// BenchmarkGettid: what Conn's methods pay to tell a callback (on the
// loop's thread) from another goroutine.
func BenchmarkGettid(b *testing.B) {
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n += unix.Gettid()
	}
	_ = n
}
