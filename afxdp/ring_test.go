package afxdp

import (
	"sync/atomic"
	"testing"
)

// fakeRing is a heap-backed ring whose "kernel" side the test drives by
// writing the indices directly, starting near the uint32 wrap point.
func fakeRing(size, start uint32) ring {
	r := ring{producer: new(atomic.Uint32), consumer: new(atomic.Uint32), flags: new(atomic.Uint32), size: size, mask: size - 1}
	r.producer.Store(start)
	r.consumer.Store(start)
	return r
}

func newFakeFill(size, start uint32) *FillRing {
	f := &FillRing{ring: fakeRing(size, start), addrs: make([]uint64, size)}
	f.initProducer()
	return f
}

func newFakeRx(size, start uint32) *RxRing {
	r := &RxRing{ring: fakeRing(size, start), descs: make([]Desc, size)}
	r.initConsumer()
	return r
}

var nearWrap = ^uint32(0) - 3 // indices cross 2^32 after 4 entries

func TestProducerWrapAndBounds(t *testing.T) {
	f := newFakeFill(8, nearWrap)
	idx, got := f.Reserve(5)
	if got != 5 || idx != nearWrap {
		t.Fatalf("Reserve(5) = (%d, %d), want (%d, 5)", idx, got, nearWrap)
	}
	for i := range got {
		f.Set(idx+i, uint64(i)*2048)
	}
	f.Submit(got)
	if p := f.producer.Load(); p != nearWrap+5 {
		t.Fatalf("producer = %d, want %d (wrapped)", p, nearWrap+5)
	}
	// Slot of the wrapped index idx+4 is (2^32-4+4)&7 == 0.
	if f.addrs[0] != 4*2048 {
		t.Fatalf("slot 0 = %d, want %d", f.addrs[0], 4*2048)
	}
	// Only 3 slots are free until the kernel consumes.
	if _, got := f.Reserve(10); got != 3 {
		t.Fatalf("Reserve(10) on a ring with 3 free = %d", got)
	}
	f.Cancel(3)
	if f.Free() != 3 {
		t.Fatalf("Free after Cancel = %d, want 3", f.Free())
	}
	// The kernel consumes 4: now 7 are free, seen on the next reserve
	// that needs more than the cached view.
	f.consumer.Add(4)
	if _, got := f.Reserve(7); got != 7 {
		t.Fatalf("Reserve(7) after kernel consumed 4 = %d, want 7", got)
	}
	// Submit never publishes more than was reserved.
	f.Submit(100)
	if p := f.producer.Load(); p != nearWrap+12 {
		t.Fatalf("producer after over-submit = %d, want %d", p, nearWrap+12)
	}
	if _, got := f.Reserve(1); got != 0 {
		t.Fatalf("Reserve on a full ring = %d", got)
	}
}

func TestProducerUsesCachedConsumer(t *testing.T) {
	f := newFakeFill(8, 0)
	f.Reserve(4)
	f.Submit(4)
	// The kernel consumes everything, but 4 slots are still known free:
	// a reserve of up to 4 must not look at the shared index.
	f.consumer.Store(4)
	if _, got := f.Reserve(4); got != 4 || f.cachedCons != 8 {
		t.Fatalf("Reserve(4) = %d, cachedCons %d; want 4 from the cache (8)", got, f.cachedCons)
	}
	// Needing more than cached forces a refresh.
	if _, got := f.Reserve(4); got != 4 || f.cachedCons != 12 {
		t.Fatalf("Reserve(4) = %d, cachedCons %d; want 4 after refresh (12)", got, f.cachedCons)
	}
}

func TestConsumerWrapAndCache(t *testing.T) {
	r := newFakeRx(4, nearWrap)
	if _, got := r.Peek(4); got != 0 {
		t.Fatalf("Peek on empty ring = %d", got)
	}
	// Kernel produces 3 descriptors across the wrap.
	for i := range uint32(3) {
		r.descs[(nearWrap+i)&r.mask] = Desc{Addr: uint64(i) * 4096, Len: 60 + i}
	}
	r.producer.Store(nearWrap + 3)
	idx, got := r.Peek(2)
	if got != 2 || idx != nearWrap {
		t.Fatalf("Peek(2) = (%d, %d)", idx, got)
	}
	if d := r.Desc(idx + 1); d.Len != 61 || d.Addr != 4096 {
		t.Fatalf("Desc(idx+1) = %+v", *d)
	}
	// One more is cached; the producer moving on is not seen until the
	// cache is drained.
	r.descs[(nearWrap+3)&r.mask] = Desc{Addr: 3 * 4096, Len: 63}
	r.producer.Store(nearWrap + 4)
	idx, got = r.Peek(4)
	if got != 1 || r.Desc(idx).Len != 62 {
		t.Fatalf("Peek(4) with one cached = %d (len %d), want 1 (62)", got, r.Desc(idx).Len)
	}
	idx, got = r.Peek(4)
	if got != 1 || r.Desc(idx).Len != 63 {
		t.Fatalf("Peek(4) after refresh = %d, want the 4th descriptor", got)
	}
	r.Release(2)
	if c := r.consumer.Load(); c != nearWrap+2 {
		t.Fatalf("consumer = %d, want %d", c, nearWrap+2)
	}
	r.Release(100) // bounded by what was peeked
	if c := r.consumer.Load(); c != nearWrap+4 {
		t.Fatalf("consumer after over-release = %d, want %d", c, nearWrap+4)
	}
}

func TestNeedWakeupFlag(t *testing.T) {
	tx := &TxRing{ring: fakeRing(4, 0), descs: make([]Desc, 4)}
	tx.initProducer()
	if tx.NeedWakeup() {
		t.Fatal("NeedWakeup with flags 0")
	}
	tx.flags.Store(1)
	if !tx.NeedWakeup() {
		t.Fatal("NeedWakeup with XDP_RING_NEED_WAKEUP set")
	}
	idx, _ := tx.Reserve(1)
	tx.Set(idx, 4096, 99)
	if d := tx.Desc(idx); d.Addr != 4096 || d.Len != 99 || d.Options != 0 {
		t.Fatalf("TX desc = %+v", *d)
	}
}

func BenchmarkFillReserveSubmit(b *testing.B) {
	f := newFakeFill(2048, 0)
	b.ReportAllocs()
	for b.Loop() {
		idx, got := f.Reserve(64)
		for i := range got {
			f.Set(idx+i, uint64(i)<<12)
		}
		f.Submit(got)
		f.consumer.Add(got) // the "kernel" consumes
	}
}

func BenchmarkRxPeekRelease(b *testing.B) {
	r := newFakeRx(2048, 0)
	var sum uint32
	b.ReportAllocs()
	for b.Loop() {
		r.producer.Add(64) // the "kernel" produces
		idx, got := r.Peek(64)
		for i := range got {
			sum += r.Desc(idx + i).Len
		}
		r.Release(got)
	}
	_ = sum
}
