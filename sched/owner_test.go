package sched

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

func TestOwnerNamesTheGoroutine(t *testing.T) {
	me := Owner()
	if me == 0 {
		t.Fatal("Owner() = 0")
	}
	runtime.Gosched()
	if again := Owner(); again != me {
		t.Fatalf("Owner changed within one goroutine: %#x then %#x", me, again)
	}
	const n = 8
	got := make(chan uintptr, n)
	hold := make(chan struct{})
	for range n {
		go func() { got <- Owner(); <-hold }() // all alive at once: no reuse
	}
	seen := map[uintptr]bool{me: true}
	for range n {
		o := <-got
		if seen[o] {
			t.Fatalf("two live goroutines share the token %#x", o)
		}
		seen[o] = true
	}
	close(hold)
}

func BenchmarkOwner(b *testing.B) {
	b.ReportAllocs()
	me := Owner()
	for b.Loop() {
		if Owner() != me {
			b.Fatal("token changed")
		}
	}
}

func BenchmarkGettid(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		unix.Gettid()
	}
}
