package sched

import (
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sluicenet/sluice/afxdp"
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

// deviceLoops starts n loops without a device (as the pipe tests make
// them) as one group, each running on its own goroutine, and stops them
// at cleanup.
func deviceLoops(t *testing.T, n int) *Group {
	t.Helper()
	g := &Group{}
	for q := range n {
		u, err := afxdp.NewUmem(afxdp.UmemConfig{FrameSize: 2048, FrameCount: 64, FillSize: 64, CompletionSize: 64})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { u.Close() })
		l, err := NewLoop(LoopConfig{Core: -1}, dialHandler{}, q, u, nil) // no connections: never called
		if err != nil {
			t.Fatal(err)
		}
		g.loops = append(g.loops, l)
	}
	for _, l := range g.loops {
		if l.onThread() {
			t.Fatal("onThread true before Run")
		}
		go l.Run()
	}
	t.Cleanup(func() {
		for _, l := range g.loops {
			l.Stop()
			<-l.Done()
		}
	})
	return g
}

// TestGroupOpsByOwner: the group operations tell a loop's own callbacks
// from other goroutines by the owner token. From another goroutine
// onEach is posted to each loop and waited for; from a loop's callback
// (a posted function runs as one) it runs on that loop inline (waiting
// for itself would deadlock) and is posted to the others, Stats answers
// inline and ListConns refuses; after Run returns the token names
// nothing.
func TestGroupOpsByOwner(t *testing.T) {
	g := deviceLoops(t, 2)
	l0, l1 := g.loops[0], g.loops[1]
	if g.onLoopThread() {
		t.Fatal("the test goroutine is taken for a loop")
	}
	var ran [2]uintptr
	if err := g.onEach(func(l *Loop) { ran[l.queue] = Owner() }); err != nil {
		t.Fatal(err)
	}
	me := Owner()
	for q, o := range ran {
		if o == 0 || o == me || o != g.loops[q].own.Load() {
			t.Errorf("loop %d: fn ran on %#x; the loop is %#x, the caller %#x", q, o, g.loops[q].own.Load(), me)
		}
	}

	type result struct {
		inline, onL0, listErr bool
		statsQueue            int
		err                   error
	}
	res := make(chan result, 1)
	posted := make(chan uintptr, 1)
	err := l0.Post(func() {
		var r result
		r.onL0 = l0.onThread() && !l1.onThread()
		ranHere := false
		r.err = g.onEach(func(l *Loop) {
			if l == l0 {
				ranHere = true
			} else {
				posted <- Owner()
			}
		})
		r.inline = ranHere // set before onEach returned: run in place
		_, err := g.ListConns(0)
		r.listErr = err != nil
		s, err := l0.Stats(time.Second)
		if err == nil {
			r.statsQueue = s.Queue
		} else {
			r.statsQueue = -1
		}
		res <- r
	})
	if err != nil {
		t.Fatal(err)
	}
	var r result
	select {
	case r = <-res:
	case <-time.After(20 * time.Second):
		t.Fatal("group operations from a loop's own callback deadlocked")
	}
	if !r.onL0 || !r.inline || r.err != nil || !r.listErr || r.statsQueue != 0 {
		t.Errorf("from loop 0's callback: %+v; want on loop 0, onEach inline without error, ListConns refused, Stats of queue 0", r)
	}
	select {
	case o := <-posted:
		if o != l1.own.Load() {
			t.Errorf("loop 1's part ran on %#x, not loop 1 (%#x)", o, l1.own.Load())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("loop 1's part of onEach never ran")
	}

	l1.Stop()
	<-l1.Done()
	if l1.own.Load() != 0 {
		t.Error("a stopped loop keeps its owner token")
	}
}

// BenchmarkOnThread: the check every group operation and Stats makes; no
// system call.
func BenchmarkOnThread(b *testing.B) {
	b.ReportAllocs()
	var l Loop
	l.own.Store(Owner())
	for b.Loop() {
		if !l.onThread() {
			b.Fatal("not on thread")
		}
	}
}
