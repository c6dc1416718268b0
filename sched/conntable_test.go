package sched

import (
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"
)

var (
	keyLocal4  = netip.MustParseAddr("198.18.0.1").As16()
	keyLocal6  = netip.MustParseAddr("2001:2::1").As16()
	keyRemote6 = netip.MustParseAddr("2001:2::").As16()
)

// keyN is a deterministic key family, unique for i < 2^24: v4 and v6
// clients of one server.
func keyN(i uint32) ConnKey {
	if i%2 == 0 {
		remote := netip.AddrFrom4([4]byte{198, 19, byte(i >> 16), byte(i >> 8)}).As16()
		return NewConnKey(keyLocal4, remote, 443, uint16(i))
	}
	remote := keyRemote6
	remote[12], remote[13], remote[14], remote[15] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
	return NewConnKey(keyLocal6, remote, 443, uint16(i))
}

func TestConnKeyRoundTrip(t *testing.T) {
	l := netip.MustParseAddrPort("198.18.0.1:80")
	r := netip.MustParseAddrPort("[2001:2::2]:40000")
	k := MakeConnKey(l, r)
	if k.Local() != l || k.Remote() != r {
		t.Fatalf("round trip: %v", k)
	}
	if k == MakeConnKey(r, l) {
		t.Fatal("direction lost")
	}
	// IPv4 and its v4-mapped form are the same connection.
	m := netip.AddrPortFrom(netip.AddrFrom16(l.Addr().As16()), 80)
	if MakeConnKey(m, r) != k {
		t.Fatal("v4 and v4-mapped keys differ")
	}
}

type connChecker struct {
	t        *testing.T
	tab      *ConnTable
	keyless  bool // the value is the key's index in keyStore
	ref      map[ConnKey]uint32
	grows    int
	shrinks  int
	resizeOp int // operations during which a resize was under way
}

func (c *connChecker) after(capBefore int, wasResizing bool) {
	c.t.Helper()
	if c.tab.lastMoved > migrateBatch {
		c.t.Fatalf("one operation migrated %d entries (bound %d)", c.tab.lastMoved, migrateBatch)
	}
	if c.tab.Len() != len(c.ref) {
		c.t.Fatalf("Len = %d, reference %d", c.tab.Len(), len(c.ref))
	}
	if !wasResizing && c.tab.Resizing() {
		if c.tab.Cap() > capBefore {
			c.grows++
		} else {
			c.shrinks++
		}
	}
	if c.tab.Resizing() {
		c.resizeOp++
	}
}

func (c *connChecker) op(rng *rand.Rand, keySpace uint32, insertBias int) {
	ki := rng.Uint32N(keySpace)
	k := keyN(ki)
	capBefore, wasResizing := c.tab.Cap(), c.tab.Resizing()
	switch r := rng.IntN(100); {
	case r < insertBias:
		v := rng.Uint32()
		if c.keyless {
			v = ki
		}
		_, had := c.ref[k]
		if got := c.tab.Insert(k, v); got == had {
			c.t.Fatalf("Insert(%v) = %v, reference had it: %v", k, got, had)
		}
		if !had {
			c.ref[k] = v
		}
	case r < 80:
		want, had := c.ref[k]
		got, ok := c.tab.Delete(k)
		if ok != had || got != want {
			c.t.Fatalf("Delete(%v) = %d,%v, want %d,%v", k, got, ok, want, had)
		}
		delete(c.ref, k)
	case r < 97:
		want, had := c.ref[k]
		got, ok := c.tab.Lookup(k)
		if ok != had || got != want {
			c.t.Fatalf("Lookup(%v) = %d,%v, want %d,%v", k, got, ok, want, had)
		}
	default:
		var keys [40]ConnKey // more than one LookupBatch chunk
		var vals [40]uint32
		var found [40]bool
		wantHits := 0
		for i := range keys {
			keys[i] = keyN(rng.Uint32N(keySpace))
			if _, ok := c.ref[keys[i]]; ok {
				wantHits++
			}
		}
		if hits := c.tab.LookupBatch(keys[:], vals[:], found[:]); hits != wantHits {
			c.t.Fatalf("LookupBatch found %d, want %d", hits, wantHits)
		}
		for i, k := range keys {
			want, had := c.ref[k]
			if found[i] != had || vals[i] != want {
				c.t.Fatalf("LookupBatch[%d] = %d,%v, want %d,%v", i, vals[i], found[i], want, had)
			}
		}
	}
	c.after(capBefore, wasResizing)
}

func (c *connChecker) checkAll() {
	c.t.Helper()
	for k, want := range c.ref {
		if got, ok := c.tab.Lookup(k); !ok || got != want {
			c.t.Fatalf("Lookup(%v) = %d,%v, want %d", k, got, ok, want)
		}
	}
	n := 0
	c.tab.Range(func(k ConnKey, v uint32) bool {
		if want, ok := c.ref[k]; !ok || want != v {
			c.t.Fatalf("Range yielded %v=%d, reference %d,%v", k, v, want, ok)
		}
		n++
		return true
	})
	if n != len(c.ref) {
		c.t.Fatalf("Range yielded %d entries, want %d", n, len(c.ref))
	}
}

// keyStore holds keyN(0..n) for a keyless table whose values are key
// indices, as the loop's slab holds each connection's key.
func keyStore(n uint32) KeyOf {
	keys := make([]ConnKey, n)
	for i := range keys {
		keys[i] = keyN(uint32(i))
	}
	return func(v uint32) *ConnKey {
		if v >= uint32(len(keys)) {
			return nil
		}
		return &keys[v]
	}
}

// TestConnTableAgainstMap runs a million random operations against a Go map,
// in phases that grow the table from empty, churn it, and shrink it back, so
// lookups, inserts and deletes all happen while resizes are under way.
func TestConnTableAgainstMap(t *testing.T) {
	t.Run("keyed", func(t *testing.T) { testConnTableAgainstMap(t, false) })
	t.Run("keyless", func(t *testing.T) { testConnTableAgainstMap(t, true) })
}

func testConnTableAgainstMap(t *testing.T, keyless bool) {
	ops := 1_000_000
	if testing.Short() {
		ops = 200_000
	}
	rng := rand.New(rand.NewPCG(42, 7))
	// The key space scales with the run so that the delete-heavy phase
	// empties the table enough to shrink it more than once.
	keySpace := uint32(ops / 16)
	tab := NewConnTable(0)
	if keyless {
		tab = NewConnTableKeyOf(0, keyStore(keySpace))
	}
	c := &connChecker{t: t, tab: tab, keyless: keyless, ref: map[ConnKey]uint32{}}
	phases := []struct {
		frac       int // share of ops, in tenths
		insertBias int // percent of ops that insert (deletes up to 80%)
	}{
		{3, 70}, // grow
		{2, 45}, // churn
		{3, 2},  // shrink
		{2, 60}, // grow again
	}
	for _, ph := range phases {
		for range ops * ph.frac / 10 {
			c.op(rng, keySpace, ph.insertBias)
		}
		c.checkAll()
		t.Logf("phase: len %d cap %d resizing %v", c.tab.Len(), c.tab.Cap(), c.tab.Resizing())
	}
	if c.grows < 5 || c.shrinks < 3 {
		t.Fatalf("phases did not exercise resizing: %d grows, %d shrinks", c.grows, c.shrinks)
	}
	t.Logf("%d grows, %d shrinks, %d ops ran during a resize; final len %d cap %d",
		c.grows, c.shrinks, c.resizeOp, c.tab.Len(), c.tab.Cap())
}

// TestConnTableIncrementalGrowth: filling to a million entries never moves
// more than migrateBatch entries in one insert, and each resize spans many
// inserts instead of happening in one.
func TestConnTableIncrementalGrowth(t *testing.T) {
	n := uint32(1 << 20)
	if testing.Short() {
		n = 1 << 16
	}
	tab := NewConnTable(0)
	maxMoved, resizes, resizingOps := 0, 0, 0
	for i := range n {
		was := tab.Resizing()
		if !tab.Insert(keyN(i), i) {
			t.Fatalf("Insert(%d) failed", i)
		}
		maxMoved = max(maxMoved, tab.lastMoved)
		if tab.Resizing() {
			resizingOps++
			if !was {
				resizes++
			}
		}
	}
	if maxMoved > migrateBatch {
		t.Fatalf("an insert moved %d entries", maxMoved)
	}
	if resizes == 0 || resizingOps < resizes*2 {
		t.Fatalf("%d resizes over %d inserts: not incremental", resizes, resizingOps)
	}
	for i := range n {
		if v, ok := tab.Lookup(keyN(i)); !ok || v != i {
			t.Fatalf("Lookup(%d) = %d,%v", i, v, ok)
		}
	}
	t.Logf("%d resizes, %d inserts ran during one, at most %d entries moved by one insert", resizes, resizingOps, maxMoved)
}

// TestConnTableAdversarialKeys: keys that differ in a single byte (one
// address byte, or the low byte of a port) spread over the table like any
// others under the seeded hash: probe distances stay short.
func TestConnTableAdversarialKeys(t *testing.T) {
	base := MakeConnKey(netip.MustParseAddrPort("198.18.0.1:80"), netip.MustParseAddrPort("198.18.0.2:1000"))
	tab := NewConnTable(0)
	var keys []ConnKey
	for pos := range len(base.b) {
		for v := range 256 {
			k := base
			k.b[pos] = byte(v)
			if k == base && pos > 0 {
				continue
			}
			if tab.Insert(k, uint32(len(keys))) {
				keys = append(keys, k)
			}
		}
	}
	for i, k := range keys {
		if v, ok := tab.Lookup(k); !ok || v != uint32(i) {
			t.Fatalf("Lookup(%d) = %d,%v", i, v, ok)
		}
	}
	maxDist := uint32(0)
	for pos := range tab.cur.slots {
		if tab.cur.slots[pos].hash != 0 {
			maxDist = max(maxDist, tab.cur.dist(uint32(pos)))
		}
	}
	// Robin Hood at <= 3/4 load keeps the longest probe around log n;
	// a clustered hash would put thousands of keys on one chain.
	if maxDist > 64 {
		t.Fatalf("longest probe %d over %d keys", maxDist, len(keys))
	}
	for i, k := range keys {
		if i%2 == 0 {
			if v, ok := tab.Delete(k); !ok || v != uint32(i) {
				t.Fatalf("Delete(%d) = %d,%v", i, v, ok)
			}
		}
	}
	for i, k := range keys {
		_, ok := tab.Lookup(k)
		if ok != (i%2 == 1) {
			t.Fatalf("after deleting evens, Lookup(%d) ok=%v", i, ok)
		}
	}
}

// TestConnArrayChains drives the array directly with chosen hashes: chains
// that collide on one home, overlap the next homes and wrap past the last
// slot; deleting from the front, middle and end of a chain must leave every
// other key findable (backward shift keeps chains unbroken).
// Keys come in threes with one full 32-bit hash: a hash match alone must
// not be taken for a hit.
func TestConnArrayChains(t *testing.T) {
	for trial := range 400 {
		rng := rand.New(rand.NewPCG(uint64(trial), 1))
		var keyOf KeyOf // keyed on even trials
		if trial%2 == 1 {
			keyOf = keyStore(12)
		}
		a := newConnArray(16, keyOf) // home = top 4 bits of the hash
		type ent struct {
			h uint32
			k ConnKey
		}
		var ents []ent
		for i := range 12 {
			home := uint32(13 + rng.IntN(4)) // homes 13..16 => wrap to 0
			if i%3 > 0 {
				home = ents[i-1].h >> 28 // same hash as the previous key
			}
			h := home<<28 | uint32(i/3+1)
			k := keyN(uint32(i))
			if !insert(&a, h, &k, uint32(i), true) {
				t.Fatal("insert failed")
			}
			ents = append(ents, ent{h, k})
		}
		rng.Shuffle(len(ents), func(i, j int) { ents[i], ents[j] = ents[j], ents[i] })
		for len(ents) > 0 {
			victim := ents[0]
			pos, ok := find(&a, a.home(victim.h), victim.h, &victim.k)
			if !ok {
				t.Fatalf("trial %d: key lost before deletion", trial)
			}
			removeAt(&a, pos)
			ents = ents[1:]
			if _, ok := find(&a, a.home(victim.h), victim.h, &victim.k); ok {
				t.Fatalf("trial %d: deleted key still found", trial)
			}
			for _, e := range ents {
				pos, ok := find(&a, a.home(e.h), e.h, &e.k)
				if !ok || *a.keyAt(pos) != e.k {
					t.Fatalf("trial %d: key lost after deleting another", trial)
				}
			}
			// Robin Hood invariant: along a cluster, distance grows by at
			// most one per slot.
			for p := range a.slots {
				q := (uint32(p) + 1) & a.mask
				if a.slots[q].hash != 0 && a.dist(q) > 0 &&
					(a.slots[p].hash == 0 || a.dist(q) > a.dist(uint32(p))+1) {
					t.Fatalf("trial %d: broken chain at slot %d", trial, q)
				}
			}
		}
	}
}

func TestConnTableSeedsDiffer(t *testing.T) {
	a, b := NewConnTable(0), NewConnTable(0)
	k := keyN(1)
	same := 0
	for i := range uint32(64) {
		k = keyN(i)
		if a.hash(&k) == b.hash(&k) {
			same++
		}
	}
	if same > 2 {
		t.Fatalf("%d of 64 keys hash alike in two tables: seed not per table", same)
	}
}

const benchConns = 1 << 20

func benchTable(b *testing.B) *ConnTable { return benchTableOf(nil) }

// benchTableOf fills a table (keyless with keyOf, which must know
// keyN(0..benchConns) by index) with benchConns entries.
func benchTableOf(keyOf KeyOf) *ConnTable {
	tab := NewConnTableKeyOf(0, keyOf)
	for i := range uint32(benchConns) {
		tab.Insert(keyN(i), i)
	}
	for tab.Resizing() { // finish any resize so we measure steady state
		tab.Delete(keyN(benchConns + 1))
	}
	return tab
}

// shuffledKeys returns keyN(first..first+n) in random order. Benchmarks walk
// it sequentially, so the only random memory access is the table's: with 1M
// entries (92 MB of slots) almost every probe is a cache and TLB miss, which
// is what a loop serving a million busy connections sees.
func shuffledKeys(first, n uint32) []ConnKey {
	keys := make([]ConnKey, n)
	for i := range keys {
		keys[i] = keyN(first + uint32(i))
	}
	rng := rand.New(rand.NewPCG(uint64(first), uint64(n)))
	rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	return keys
}

// benchTables runs fn as two sub-benchmarks, on a keyed and on a keyless
// table of benchConns entries (a keyless one's keys sit in a separate
// array, as in the loop's slab: a hit reads one more line).
func benchTables(b *testing.B, fn func(b *testing.B, tab *ConnTable)) {
	benchTablesKeyOf(b, func() KeyOf { return keyStore(benchConns) }, fn)
}

// benchTablesKeyOf is benchTables with the keyless table's keys where
// keyOf puts them.
func benchTablesKeyOf(b *testing.B, keyOf func() KeyOf, fn func(b *testing.B, tab *ConnTable)) {
	for _, keyless := range []bool{false, true} {
		b.Run(map[bool]string{false: "keyed", true: "keyless"}[keyless], func(b *testing.B) {
			var ko KeyOf
			if keyless {
				ko = keyOf()
			}
			tab := benchTableOf(ko)
			b.ReportAllocs()
			b.ResetTimer()
			fn(b, tab)
		})
	}
}

func benchLookup(b *testing.B, keys []ConnKey, hit bool) {
	benchTables(b, func(b *testing.B, tab *ConnTable) {
		for i := range b.N {
			if _, ok := tab.Lookup(keys[i%len(keys)]); ok != hit {
				b.Fatal("unexpected result")
			}
		}
	})
}

func BenchmarkConnLookupHit1M(b *testing.B) {
	benchLookup(b, shuffledKeys(0, benchConns), true)
}

func BenchmarkConnLookupMiss1M(b *testing.B) {
	benchLookup(b, shuffledKeys(benchConns+2, benchConns), false)
}

// BenchmarkConnLookupHot1M: 1M entries, but the traffic comes from 4096 of
// them, whose slots stay in cache: the table's own cost (hash, probe,
// compare) without DRAM latency.
func BenchmarkConnLookupHot1M(b *testing.B) {
	benchLookup(b, shuffledKeys(0, benchConns)[:4096], true)
}

// BenchmarkConnLookupBatch1M: as LookupHit1M, 64 keys per call (one RX
// batch); ns/op is per key.
func BenchmarkConnLookupBatch1M(b *testing.B) {
	keys := shuffledKeys(0, benchConns)
	benchTables(b, func(b *testing.B, tab *ConnTable) {
		var vals [64]uint32
		var found [64]bool
		for i := 0; i < b.N; i += 64 {
			base := i % len(keys)
			if tab.LookupBatch(keys[base:base+64], vals[:], found[:]) != 64 {
				b.Fatal("miss")
			}
		}
	})
}

// benchSlabConns returns a Slab[Conn] holding keyN(i) at index i for
// every i < n, and the KeyOf that reads it, as the loop's connKey does.
func benchSlabConns(n uint32) (*Slab[Conn], KeyOf) {
	s := NewSlab[Conn]()
	for i := range n {
		s.Get(s.Alloc()).key = keyN(i)
	}
	return s, func(v uint32) *ConnKey {
		if c := s.Get(v); c != nil {
			return &c.key
		}
		return nil
	}
}

// BenchmarkConnLookupConn1M: a hit as the loop pays it. The loop goes on
// from the table to the Conn in its slab and compares its key (demux), so
// a keyed table costs the slot, its key line and then the Conn, and a
// keyless one the slot and then the Conn (whose key it compares in the
// lookup): LookupHit1M charges the keyless table a miss that the loop
// pays either way. "batch" is LookupBatch (64 keys, ns/op per key), as
// rxBatch calls it.
func BenchmarkConnLookupConn1M(b *testing.B) {
	keys := shuffledKeys(0, benchConns)
	slab, keyOf := benchSlabConns(benchConns)
	conn := func(b *testing.B, k *ConnKey, v uint32, ok bool) {
		if c := slab.Get(v); !ok || c == nil || c.key != *k {
			b.Fatal("wrong Conn")
		}
	}
	b.Run("single", func(b *testing.B) {
		benchTablesKeyOf(b, func() KeyOf { return keyOf }, func(b *testing.B, tab *ConnTable) {
			for i := range b.N {
				k := &keys[i%len(keys)]
				v, ok := tab.Lookup(*k)
				conn(b, k, v, ok)
			}
		})
	})
	b.Run("batch", func(b *testing.B) {
		benchTablesKeyOf(b, func() KeyOf { return keyOf }, func(b *testing.B, tab *ConnTable) {
			var vals [64]uint32
			var found [64]bool
			for i := 0; i < b.N; i += 64 {
				batch := keys[i%len(keys):][:64]
				tab.LookupBatch(batch, vals[:], found[:])
				for j := range batch {
					conn(b, &batch[j], vals[j], found[j])
				}
			}
		})
	})
}

// The insert and delete benchmarks keep the table between 1M and 1M+64k
// entries: timed inserts (deletes) of a chunk of keys, untimed deletes
// (re-inserts) of the same chunk.
func BenchmarkConnInsert1M(b *testing.B) {
	tab := benchTable(b)
	keys := shuffledKeys(benchConns+2, benchConns)
	const chunk = 1 << 16
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; {
		n := min(chunk, b.N-i)
		base := (i / chunk * chunk) % len(keys)
		for j := range n {
			tab.Insert(keys[base+j], uint32(j))
		}
		b.StopTimer()
		for j := range n {
			tab.Delete(keys[base+j])
		}
		b.StartTimer()
		i += n
	}
}

func BenchmarkConnDelete1M(b *testing.B) {
	tab := benchTable(b)
	keys := shuffledKeys(0, benchConns)
	const chunk = 1 << 16
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; {
		n := min(chunk, b.N-i)
		base := (i / chunk * chunk) % len(keys)
		for j := range n {
			tab.Delete(keys[base+j])
		}
		b.StopTimer()
		for j := range n {
			tab.Insert(keys[base+j], uint32(j))
		}
		b.StartTimer()
		i += n
	}
}

// BenchmarkConnTableMemory reports the heap bytes per entry of a table
// holding 1M entries (slot arrays only; the TCBs live in the caller's slab,
// and so do a keyless table's keys).
func BenchmarkConnTableMemory(b *testing.B) {
	for _, keyless := range []bool{false, true} {
		b.Run(map[bool]string{false: "keyed", true: "keyless"}[keyless], func(b *testing.B) {
			var keyOf KeyOf
			if keyless {
				keyOf = keyStore(benchConns)
			}
			var before, after runtime.MemStats
			for range b.N {
				runtime.GC()
				runtime.ReadMemStats(&before)
				tab := benchTableOf(keyOf)
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(tab.Len()), "B/entry")
				b.ReportMetric(float64(tab.Len())/float64(tab.Cap()), "load")
				runtime.KeepAlive(tab)
			}
		})
	}
}
