package timewait

import (
	"encoding/binary"
	"hash/maphash"
	"testing"

	"github.com/sluicenet/sluice/tcp"
)

// tupleOf lays id out as Prefetch takes it (sched.ConnKey's layout).
func tupleOf(id *tcp.ID) [36]byte {
	var b [36]byte
	la, ra := id.LocalAddr.As16(), id.RemoteAddr.As16()
	copy(b[0:], la[:])
	copy(b[16:], ra[:])
	binary.BigEndian.PutUint16(b[32:], id.LocalPort)
	binary.BigEndian.PutUint16(b[34:], id.RemotePort)
	return b
}

// TestPrefetchHash: Prefetch hashes a tuple as the index does, so it
// loads the word the look-up then reads (else it would only cost).
func TestPrefetchHash(t *testing.T) {
	tb := newTable(t, 100)
	for i := range 50 {
		id := flowN(i)
		tb.Insert(&id, &State{}, t0)
		tu := tupleOf(&id)
		k, ok := tb.keyOf(&id)
		if !ok {
			t.Fatal("no key for an inserted 4-tuple")
		}
		if got, want := maphash.Bytes(tb.seed, tu[:]), tb.hash(&k); got != want {
			t.Fatalf("flow %d: Prefetch hash %x, index hash %x", i, got, want)
		}
		tb.Prefetch(&tu)
	}
}

// BenchmarkLookupMissBatch: the SYNs of a receive batch (64 new
// 4-tuples) looked up in a table of 1M entries, where each index word is
// a cache miss, one after another ("plain") and after a Prefetch of each
// ("prefetch"), as the loop does. Per look-up.
func BenchmarkLookupMissBatch(b *testing.B) {
	const n, batch = 1 << 20, 64
	tb := newTable(b, n)
	for i := range n {
		id := flowN(2 * i)
		tb.Insert(&id, &State{}, t0)
	}
	ids := make([]tcp.ID, 1<<16)
	tus := make([][36]byte, len(ids))
	for i := range ids {
		ids[i] = flowN(2 * (n + i))
		tus[i] = tupleOf(&ids[i])
	}
	for _, pre := range []bool{false, true} {
		name := "plain"
		if pre {
			name = "prefetch"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			off := 0
			for b.Loop() {
				if pre {
					for i := off; i < off+batch; i++ {
						tb.Prefetch(&tus[i])
					}
				}
				for i := off; i < off+batch; i++ {
					if _, _, ok := tb.Lookup(&ids[i], t0); ok {
						b.Fatal("found a 4-tuple never inserted")
					}
				}
				if off += batch; off == len(ids) {
					off = 0
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/lookup")
		})
	}
}
