package sched

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

func newRing[T any](t testing.TB, size int) *MPSC[T] {
	t.Helper()
	r, err := NewMPSC[T](size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// TestMPSCProducersConsumer: every item from every producer arrives exactly
// once and each producer's items arrive in the order it pushed them, with
// the consumer sleeping on the eventfd whenever the ring runs dry.
func TestMPSCProducersConsumer(t *testing.T) {
	const producers = 4
	items := 50_000
	if testing.Short() {
		items = 10_000
	}
	r := newRing[uint64](t, 64) // small: producers hit "full" often
	var wg sync.WaitGroup
	var fulls atomic.Int64
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range items {
				v := uint64(p)<<32 | uint64(i)
				for !r.TryPush(v) {
					fulls.Add(1)
					runtime.Gosched()
				}
			}
		}()
	}
	next := make([]int, producers)
	total, sleeps := 0, 0
	buf := make([]uint64, 16)
	for total < producers*items {
		n := r.PopBatch(buf)
		for _, v := range buf[:n] {
			p, i := int(v>>32), int(uint32(v))
			if p >= producers || i != next[p] {
				t.Fatalf("producer %d: got item %d, want %d (lost, duplicated or reordered)", p, i, next[p])
			}
			next[p]++
		}
		total += n
		if n == 0 {
			// Sleep until a producer publishes (TestMPSCNoLostWakeup
			// checks the wakeup itself; here it must merely not hang).
			if _, err := r.Wait(10_000); err != nil {
				t.Fatal(err)
			}
			sleeps++
		}
	}
	wg.Wait()
	if _, ok := r.Pop(); ok {
		t.Fatal("extra item after all were received")
	}
	t.Logf("%d items, %d full-ring retries, %d waits", total, fulls.Load(), sleeps)
}

func TestMPSCFullAndClose(t *testing.T) {
	r := newRing[int](t, 5) // rounds up to 8
	if r.Cap() != 8 {
		t.Fatalf("Cap = %d, want 8", r.Cap())
	}
	for i := range 8 {
		if !r.TryPush(i) {
			t.Fatalf("push %d into a non-full ring failed", i)
		}
	}
	if r.TryPush(8) {
		t.Fatal("push into a full ring succeeded")
	}
	if r.Len() != 8 {
		t.Fatalf("Len = %d", r.Len())
	}
	if v, ok := r.Pop(); !ok || v != 0 {
		t.Fatalf("Pop = %d,%v", v, ok)
	}
	if !r.TryPush(8) {
		t.Fatal("push after a pop failed")
	}
	if r.TryPush(9) {
		t.Fatal("ring holds more than its capacity")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if r.TryPush(10) {
		t.Fatal("push after Close succeeded")
	}
	if r.Fd() != -1 {
		t.Fatal("Fd after Close")
	}
	if err := r.Close(); err == nil {
		t.Fatal("second Close succeeded")
	}
	dst := make([]int, 16)
	n := r.PopBatch(dst)
	if n != 8 {
		t.Fatalf("after Close, PopBatch = %d items, want 8", n)
	}
	for i, v := range dst[:n] {
		if v != i+1 {
			t.Fatalf("item %d = %d: order lost", i, v)
		}
	}
	if _, err := r.Wait(0); err == nil {
		t.Fatal("Wait on a closed, empty ring succeeded")
	}
}

func TestMPSCPopDropsReferences(t *testing.T) {
	r := newRing[*int](t, 2)
	x := 1
	r.TryPush(&x)
	r.Pop()
	for i := range r.slots {
		if r.slots[i].val != nil {
			t.Fatal("popped slot still references its item")
		}
	}
}

// TestMPSCNoLostWakeup runs 100k sleep/wake cycles. In half of them the
// producer waits until the consumer has announced its sleep and then pushes
// (the eventfd path); in the other half it pushes at once, racing with the
// announcement. A lost wakeup would leave the consumer asleep: the 10 s poll
// timeout turns that into a failure instead of a hang.
func TestMPSCNoLostWakeup(t *testing.T) {
	cycles := 100_000
	if testing.Short() {
		cycles = 10_000
	}
	r := newRing[int](t, 4)
	var received atomic.Int64
	errc := make(chan error, 1)
	var signalled atomic.Int64
	go func() {
		for got := 0; got < cycles; {
			if v, ok := r.Pop(); ok {
				if v != got {
					errc <- fmt.Errorf("got %d, want %d", v, got)
					return
				}
				got++
				received.Store(int64(got))
				continue
			}
			if got%2 == 1 {
				// Linger between finding the ring empty and
				// announcing sleep, so the producer's push often
				// lands in that window: the announce-then-recheck
				// order is what must catch it.
				spin(int(got*7919) % 4096)
			}
			if !r.PrepareSleep() {
				continue
			}
			fds := []unix.PollFd{{Fd: int32(r.Fd()), Events: unix.POLLIN}}
			n, err := unix.Poll(fds, 10_000)
			for err == unix.EINTR {
				n, err = unix.Poll(fds, 10_000)
			}
			if r.EndSleep() {
				signalled.Add(1)
			}
			if fds[0].Revents&unix.POLLIN != 0 {
				r.DrainWakeups()
			}
			if err != nil {
				errc <- err
				return
			}
			if n == 0 {
				errc <- fmt.Errorf("lost wakeup: slept 10 s with %d of %d received, ring len %d", got, cycles, r.Len())
				return
			}
		}
		errc <- nil
	}()
	var consumerErr error
	consumerDone := func() bool {
		select {
		case consumerErr = <-errc:
			return true
		default:
			return false
		}
	}
	finished := false
producer:
	for i := range cycles {
		for received.Load() < int64(i) { // one item in flight at a time
			if consumerDone() {
				finished = true
				break producer
			}
			runtime.Gosched()
		}
		if i%2 == 0 {
			for r.sleeping.Load() == 0 && received.Load() == int64(i) {
				if consumerDone() {
					finished = true
					break producer
				}
				runtime.Gosched()
			}
		}
		if !r.TryPush(i) {
			t.Fatalf("push %d failed", i)
		}
	}
	if !finished {
		consumerErr = <-errc
	}
	if consumerErr != nil {
		t.Fatal(consumerErr)
	}
	// The forced-sleep half must have gone through the eventfd.
	if s := signalled.Load(); s < int64(cycles/4) {
		t.Fatalf("only %d of %d cycles woke through the eventfd", s, cycles)
	}
	t.Logf("%d cycles, %d woken through the eventfd", cycles, signalled.Load())
}

var spinSink int

func spin(n int) {
	x := 0
	for i := range n {
		x += i * i
	}
	spinSink = x
}

type benchItem struct {
	conn uint32
	op   uint8
	n    int
}

func BenchmarkMPSCPushPop(b *testing.B) {
	r := newRing[benchItem](b, 1024)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		r.TryPush(benchItem{conn: uint32(i), n: i})
		if _, ok := r.Pop(); !ok {
			b.Fatal("empty")
		}
	}
}

// BenchmarkMPSCContended: parallel producers against one consumer goroutine
// that drains in batches (and sleeps on the eventfd when dry); ns/op is per
// successful push.
func BenchmarkMPSCContended(b *testing.B) {
	r := newRing[benchItem](b, 4096)
	done := make(chan struct{})
	stop := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]benchItem, 64)
		for {
			if r.PopBatch(buf) == 0 {
				select {
				case <-stop:
					return
				default:
				}
				r.Wait(1)
			}
		}
	}()
	var fulls atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			for !r.TryPush(benchItem{conn: uint32(i)}) {
				fulls.Add(1)
				runtime.Gosched()
			}
			i++
		}
	})
	b.StopTimer()
	close(stop)
	<-done
	b.ReportMetric(float64(fulls.Load())/float64(b.N), "full/op")
}
