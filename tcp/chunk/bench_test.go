package chunk

import "testing"

// A small request read at once: the chunk is taken and given back per
// message, from the pool's cache.
func BenchmarkPushConsumeSmall(b *testing.B) {
	b.ReportAllocs()
	p := NewPool(NewBudget(1 << 30))
	var q Queue
	q.Init(p, 64<<10, true)
	msg := make([]byte, 100)
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		q.Push(msg)
		q.Consume(len(msg))
		p.Recycle()
	}
}

// Bulk: 64 KiB through the queue in MSS-sized pieces.
func BenchmarkPushConsumeBulk(b *testing.B) {
	b.ReportAllocs()
	p := NewPool(NewBudget(1 << 30))
	var q Queue
	q.Init(p, 1<<20, true)
	seg := make([]byte, 1448)
	b.SetBytes(64 * 1448)
	for b.Loop() {
		for range 64 {
			q.Push(seg)
		}
		for q.Len() > 0 {
			a, _ := q.Peek()
			q.Consume(len(a))
		}
		p.Recycle()
	}
}

// Zero-copy receive: held text read at once takes no chunk.
func BenchmarkAppendHeld(b *testing.B) {
	b.ReportAllocs()
	p := NewPool(nil)
	var q Queue
	q.Init(p, 64<<10, true)
	seg := make([]byte, 1448)
	b.SetBytes(int64(len(seg)))
	for b.Loop() {
		q.Append(seg, true)
		q.Consume(len(seg))
	}
}

// Reassembly: out-of-order segments written past Len, then the hole.
func BenchmarkReassembly(b *testing.B) {
	b.ReportAllocs()
	p := NewPool(nil)
	var q Queue
	q.Init(p, 1<<20, true)
	seg := make([]byte, 1448)
	b.SetBytes(16 * 1448)
	for b.Loop() {
		for i := 1; i < 16; i++ {
			q.WriteAt(i*len(seg), seg)
		}
		q.WriteAt(0, seg)
		q.Extend(16 * len(seg))
		q.Consume(q.Len())
		p.Recycle()
	}
}
