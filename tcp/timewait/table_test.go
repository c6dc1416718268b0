package timewait

import (
	"math/rand/v2"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/sluicenet/sluice/tcp"
)

// flowN is the n-th test flow: IPv4 for even n, IPv6 for odd n, spread
// over remote addresses and ports.
func flowN(n int) tcp.ID {
	if n%2 == 0 {
		r := netip.AddrFrom4([4]byte{198, 18, byte(n >> 16), byte(n >> 8)})
		return tcp.ID{LocalAddr: srv, RemoteAddr: r, LocalPort: 80, RemotePort: uint16(n)}
	}
	var a [16]byte
	copy(a[:], netip.MustParseAddr("2001:2::").AsSlice())
	a[12], a[13], a[14] = byte(n>>24), byte(n>>16), byte(n>>8)
	return tcp.ID{LocalAddr: netip.MustParseAddr("2001:2::1"), RemoteAddr: netip.AddrFrom16(a), LocalPort: 443, RemotePort: uint16(n)}
}

func TestInsertLookupRemove(t *testing.T) {
	tb := newTable(t, 1000)
	for n := range 1000 {
		id := flowN(n)
		st := State{SndNxt: tcp.Seq(n), RcvNxt: tcp.Seq(n * 3), Window: uint16(n), TS: n%3 == 0, TSRecent: uint32(n * 7), TSOffset: uint32(n * 11)}
		if !tb.Insert(&id, &st, t0+tcp.Instant(n)) {
			t.Fatalf("insert %d refused", n)
		}
	}
	if tb.Len() != 1000 {
		t.Fatalf("Len %d", tb.Len())
	}
	// Full: Linux's policy, refuse and count (package doc).
	extra := flowN(5000)
	if tb.Insert(&extra, &State{}, t0) || tb.Stats().RefusedFull != 1 || tb.Len() != 1000 {
		t.Fatalf("insert into a full table: stats %+v len %d", tb.Stats(), tb.Len())
	}
	for n := range 1000 {
		id := flowN(n)
		st, exp, ok := tb.Lookup(&id, t0)
		want := State{SndNxt: tcp.Seq(n), RcvNxt: tcp.Seq(n * 3), Window: uint16(n), TS: n%3 == 0, TSRecent: uint32(n * 7), TSOffset: uint32(n * 11)}
		if !ok || st != want || exp != t0+tcp.Instant(n)+tcp.Instant(2*msl) {
			t.Fatalf("flow %d: %+v %d %v, want %+v", n, st, exp, ok, want)
		}
	}
	// An IPv4 flow named through v4-mapped addresses is the same flow.
	id0 := flowN(0)
	mapped := tcp.ID{LocalAddr: netip.AddrFrom16(id0.LocalAddr.As16()), RemoteAddr: netip.AddrFrom16(id0.RemoteAddr.As16()), LocalPort: id0.LocalPort, RemotePort: id0.RemotePort}
	if _, _, ok := tb.Lookup(&mapped, t0); !ok {
		t.Error("v4-mapped form of an IPv4 flow not found")
	}
	// Reversed direction is a different flow.
	rev := tcp.ID{LocalAddr: id0.RemoteAddr, RemoteAddr: id0.LocalAddr, LocalPort: id0.RemotePort, RemotePort: id0.LocalPort}
	if _, _, ok := tb.Lookup(&rev, t0); ok {
		t.Error("reversed flow found")
	}
	for n := 0; n < 1000; n += 2 {
		id := flowN(n)
		if !tb.Remove(&id) || tb.Remove(&id) {
			t.Fatalf("remove %d", n)
		}
	}
	for n := range 1000 {
		id := flowN(n)
		if _, _, ok := tb.Lookup(&id, t0); ok != (n%2 == 1) {
			t.Fatalf("after removals flow %d present=%v", n, ok)
		}
	}
	// Replacing an entry keeps one entry with the new state and expiry.
	id := flowN(1)
	tb.Insert(&id, &State{SndNxt: 42}, t0+5)
	if st, exp, _ := tb.Lookup(&id, t0); st.SndNxt != 42 || exp != t0+5+tcp.Instant(2*msl) || tb.Len() != 500 {
		t.Fatalf("replace: %+v %d len %d", st, exp, tb.Len())
	}
}

// modelFIN sends id's retransmitted FIN (RCV.NXT 100) at now: ACKed and
// 2*MSL restarted (RFC 9293 §3.10.7.4) when the model holds id, else not
// found.
func modelFIN(t *testing.T, tb *Table, model map[tcp.ID]tcp.Instant, id *tcp.ID, now tcp.Instant, step int) {
	t.Helper()
	v := tb.Input(id, &tcp.Segment{Seq: 99, Flags: tcp.FlagFIN | tcp.FlagACK}, now, nopSink{})
	if _, had := model[*id]; had != (v.Action == ACKed) {
		t.Fatalf("step %d: FIN %v, model has=%v", step, v.Action, had)
	} else if had {
		model[*id] = now + tcp.Instant(2*msl)
	}
}

// A random mix of inserts, removals, FIN restarts, lookups and clock steps,
// checked against a map after every step. A small Max forces ring growth,
// compaction and refusals.
func TestModel(t *testing.T) {
	const max = 200
	tb := newTable(t, max)
	model := map[tcp.ID]tcp.Instant{}
	r := rand.New(rand.NewPCG(3, 4))
	now := t0
	life := tcp.Instant(2 * msl)
	for step := range 200_000 {
		id := flowN(r.IntN(600))
		switch op := r.IntN(10); {
		case op < 4:
			ok := tb.Insert(&id, &State{RcvNxt: 100}, now)
			// A full table refuses even id's own entry's restart (it
			// stays as it was).
			if want := len(model) < max; ok != want {
				t.Fatalf("step %d: insert ok=%v want %v (len %d)", step, ok, want, len(model))
			}
			if ok {
				model[id] = now + life
			}
		case op < 5:
			_, had := model[id]
			_, _, present := tb.Lookup(&id, now) // expires a due entry first
			if present != had || tb.Remove(&id) != had {
				t.Fatalf("step %d: remove mismatch", step)
			}
			delete(model, id)
		case op < 8:
			modelFIN(t, tb, model, &id, now, step)
		case op < 9:
			now += tcp.Instant(r.Int64N(int64(500 * time.Millisecond)))
			tb.Expire(now)
		default:
			now += tcp.Instant(r.Int64N(int64(100 * time.Millisecond)))
		}
		// The model forgets due entries, as the table does.
		for k, exp := range model {
			if exp <= now {
				delete(model, k)
			}
		}
		if step%97 == 0 {
			for k, exp := range model {
				if _, e, ok := tb.Lookup(&k, now); !ok || e != exp {
					t.Fatalf("step %d: %v expiry %d ok %v, want %d", step, k, e, ok, exp)
				}
			}
		}
		if tb.Len() < len(model) || tb.Len() > max {
			t.Fatalf("step %d: Len %d, model %d", step, tb.Len(), len(model))
		}
		if d := tb.NextDeadline(); len(model) > 0 && d > now+life {
			t.Fatalf("step %d: NextDeadline %d beyond any entry", step, d)
		}
	}
	t.Logf("stats %+v", tb.Stats())
}

// TestCompaction: restarts (a retransmitted FIN restarts 2MSL, RFC 9293
// §3.10.7.4) push an entry to the ring's tail and leave a dead slot behind.
// Flow 0 is never restarted, so it pins the ring's head and the dead slots
// cannot be trimmed from the front; with the clock standing still nothing
// expires, so the ring fills and must compact in place, keeping every live
// entry and its expiry.
func TestCompaction(t *testing.T) {
	const max = 16
	tb := newTable(t, max)
	var sink nopSink
	life := tcp.Instant(2 * msl)
	now := t0
	for i := range max {
		id := flowN(i)
		if !tb.Insert(&id, &State{RcvNxt: 100}, now) {
			t.Fatalf("insert %d refused", i)
		}
	}
	fin := tcp.Segment{Seq: 99, Flags: tcp.FlagFIN | tcp.FlagACK}
	for round := range 20 {
		now++
		for i := 1; i < max; i++ {
			id := flowN(i)
			if v := tb.Input(&id, &fin, now, sink); v.Action != ACKed {
				t.Fatalf("round %d flow %d: FIN got %v, want ACKed", round, i, v.Action)
			}
		}
	}
	if tb.Stats().Compactions == 0 {
		t.Fatalf("ring never compacted: %+v", tb.Stats())
	}
	if tb.Len() != max {
		t.Fatalf("Len %d after compaction, want %d", tb.Len(), max)
	}
	for i := range max {
		id := flowN(i)
		want := now + life
		if i == 0 {
			want = t0 + life
		}
		if _, exp, ok := tb.Lookup(&id, now); !ok || exp != want {
			t.Fatalf("flow %d after compaction: ok %v expiry %d, want %d", i, ok, exp, want)
		}
	}
}

// Churn: a million connections pass through TIME-WAIT in virtual time (one
// every 100 µs, so 600k would be waiting at once); Len never exceeds Max
// and the sweep keeps up.
func TestChurn1M(t *testing.T) {
	if testing.Short() {
		t.Skip("1M inserts")
	}
	const max = 100_000
	tb := newTable(t, max)
	now := t0
	refused := 0
	for n := range 1_000_000 {
		now += tcp.Instant(100 * time.Microsecond)
		if n%64 == 0 {
			tb.Expire(now)
		}
		id := flowN(n)
		if !tb.Insert(&id, &State{}, now) {
			refused++
		}
		if tb.Len() > max {
			t.Fatalf("Len %d above Max", tb.Len())
		}
	}
	if tb.Len() != max || refused == 0 || uint64(refused) != tb.Stats().RefusedFull {
		t.Fatalf("len %d refused %d stats %+v", tb.Len(), refused, tb.Stats())
	}
	now += tcp.Instant(2 * msl)
	n := tb.Expire(now)
	if n != max || tb.Len() != 0 || tb.NextDeadline() != tcp.Never {
		t.Fatalf("final sweep removed %d, len %d", n, tb.Len())
	}
	if got := tb.Stats().Expired; got != 1_000_000-uint64(refused) {
		t.Fatalf("expired %d, want %d", got, 1_000_000-refused)
	}
}

func TestConfig(t *testing.T) {
	for _, c := range []Config{{MSL: -1}, {Max: -1}, {Max: MaxLimit + 1}} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
	tb, err := New(Config{})
	if err != nil || tb.Lifetime() != 60*time.Second || tb.Max() != DefaultMax {
		t.Fatalf("defaults: %v %v %d", err, tb.Lifetime(), tb.Max())
	}
}

func BenchmarkInsertExpire(b *testing.B) {
	tb := newTable(b, 1<<16)
	ids := make([]tcp.ID, 1<<16)
	for i := range ids {
		ids[i] = flowN(i)
	}
	st := State{SndNxt: 1, RcvNxt: 2, TS: true}
	now := t0
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		// 2*MSL / 2^15 per insert: about 32k live entries in steady state.
		now += tcp.Instant(2 * msl / (1 << 15))
		tb.Expire(now)
		tb.Insert(&ids[i&(1<<16-1)], &st, now)
	}
}

// BenchmarkInsertFull: a table at its bound (131072 entries, the
// default on a 24 GiB machine) refusing new 4-tuples, as a churning server
// past the bound does for most of its connections.
func BenchmarkInsertFull(b *testing.B) {
	const n = 1 << 17
	tb := newTable(b, n)
	for i := range n {
		id := flowN(i)
		tb.Insert(&id, &State{}, t0)
	}
	ids := make([]tcp.ID, 1<<16)
	for i := range ids {
		ids[i] = flowN(n + i)
	}
	st := State{SndNxt: 1, RcvNxt: 2, TS: true}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if tb.Insert(&ids[i&(1<<16-1)], &st, t0) {
			b.Fatal("a full table took an entry")
		}
	}
}

func BenchmarkLookup(b *testing.B) {
	const n = 1 << 20
	tb := newTable(b, n)
	ids := make([]tcp.ID, n)
	for i := range ids {
		ids[i] = flowN(i)
		tb.Insert(&ids[i], &State{}, t0)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, _, ok := tb.Lookup(&ids[(i*7919)&(n-1)], t0); !ok {
			b.Fatal("missing")
		}
	}
}

func BenchmarkInputFIN(b *testing.B) {
	const n = 1 << 16
	tb := newTable(b, n)
	ids := make([]tcp.ID, n)
	for i := range ids {
		ids[i] = flowN(i)
		tb.Insert(&ids[i], &State{RcvNxt: 100, TS: true}, t0)
	}
	fin := tcp.Segment{Seq: 99, Flags: tcp.FlagFIN | tcp.FlagACK, Options: tcp.Options{HasTS: true}}
	now := t0
	var sink nopSink
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		now++
		if tb.Input(&ids[i&(n-1)], &fin, now, sink).Action != ACKed {
			b.Fatal("not ACKed")
		}
	}
}

// BenchmarkBytesPerEntry measures the heap a table of 1M live entries
// holds (ring + index + local addresses) and reports it per entry, beside
// the size of the ring entry alone; the difference is the hash index
// (sized by New for Max = n: 2^21 words, 8 MiB, at 1M) and the ring's
// last, partly used chunk.
func BenchmarkBytesPerEntry(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("TIMEWAIT_ENTRIES"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	ids := make([]tcp.ID, n)
	for i := range ids {
		ids[i] = flowN(i)
	}
	var per float64
	for b.Loop() {
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		tb := newTable(b, n)
		for i := range ids {
			tb.Insert(&ids[i], &State{}, t0)
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		per = float64(m1.HeapAlloc-m0.HeapAlloc) / float64(n)
		runtime.KeepAlive(tb)
	}
	b.ReportMetric(per, "bytes/entry")
	b.ReportMetric(entrySize(), "bytes/entry-struct")
}

// Entries keep their local address by index: the same remote tuple on two
// local addresses is two entries, and a local address the table has never
// seen finds nothing.
func TestLocalAddresses(t *testing.T) {
	tb := newTable(t, 100)
	a := flowN(0)
	b := a
	b.LocalAddr = netip.MustParseAddr("198.18.0.77")
	c := a
	c.LocalAddr = netip.MustParseAddr("198.18.0.78")
	if !tb.Insert(&a, &State{SndNxt: 1}, t0) || !tb.Insert(&b, &State{SndNxt: 2}, t0) {
		t.Fatal("insert refused")
	}
	if st, _, ok := tb.Lookup(&a, t0); !ok || st.SndNxt != 1 {
		t.Fatalf("a: %+v %v", st, ok)
	}
	if st, _, ok := tb.Lookup(&b, t0); !ok || st.SndNxt != 2 {
		t.Fatalf("b: %+v %v", st, ok)
	}
	if _, _, ok := tb.Lookup(&c, t0); ok || tb.Remove(&c) {
		t.Fatal("found an entry for an unknown local address")
	}
	if !tb.Remove(&b) || tb.Len() != 1 {
		t.Fatalf("remove b: len %d", tb.Len())
	}
	if _, _, ok := tb.Lookup(&a, t0); !ok {
		t.Fatal("a lost with b")
	}
}

// BenchmarkLookupMissFull: what every new connection's SYN costs here, a
// look-up of a 4-tuple the table does not hold, in a table at the default
// bound on a 24 GiB machine (131072 entries), one local address.
func BenchmarkLookupMissFull(b *testing.B) {
	const n = 1 << 17
	tb := newTable(b, n)
	for i := range n {
		id := flowN(2 * i)
		tb.Insert(&id, &State{}, t0)
	}
	ids := make([]tcp.ID, 1<<16)
	for i := range ids {
		ids[i] = flowN(2 * (n + i))
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, _, ok := tb.Lookup(&ids[i&(1<<16-1)], t0); ok {
			b.Fatal("found a 4-tuple never inserted")
		}
	}
}

// BenchmarkTurnoverFull: a table at the default bound (131072 entries,
// one local address) when its oldest entries come due, as happens 2*MSL
// after a churning server filled it: each new connection's entry takes
// the place of one that expires (Expire removes one, Insert adds one).
func BenchmarkTurnoverFull(b *testing.B) {
	const n = 1 << 17
	tb := newTable(b, n)
	step := tb.life / n // entries come due one per step
	now := t0
	for i := range n {
		id := flowN(2 * i)
		tb.Insert(&id, &State{}, now)
		now += step
	}
	// 2n 4-tuples: one is used again only after its entry expired.
	ids := make([]tcp.ID, 2*n)
	for i := range ids {
		ids[i] = flowN(2 * (n + i))
	}
	st := State{SndNxt: 1, RcvNxt: 2}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		exp := tb.NextDeadline()
		if tb.Expire(exp) != 1 || !tb.Insert(&ids[i&(2*n-1)], &st, exp) {
			b.Fatal("no turnover")
		}
	}
}

// TestRefuses: at the bound Refuses says so and counts the refusal as
// Insert does; once the oldest entry is due it makes room instead.
func TestRefuses(t *testing.T) {
	tb, err := New(Config{MSL: time.Second, Max: 2})
	if err != nil {
		t.Fatal(err)
	}
	id := func(p uint16) *tcp.ID {
		return &tcp.ID{LocalAddr: netip.MustParseAddr("198.18.0.1"), RemoteAddr: netip.MustParseAddr("198.18.0.2"), LocalPort: 80, RemotePort: p}
	}
	t0 := tcp.Instant(time.Second)
	if tb.Refuses(t0) {
		t.Fatal("an empty table refuses")
	}
	tb.Insert(id(1), &State{}, t0)
	tb.Insert(id(2), &State{}, t0+1)
	if !tb.Refuses(t0+2) || tb.Stats().RefusedFull != 1 {
		t.Fatalf("full table: Refuses false or RefusedFull %d, want 1", tb.Stats().RefusedFull)
	}
	if tb.Insert(id(3), &State{}, t0+2) || tb.Stats().RefusedFull != 2 {
		t.Fatalf("Insert at the bound: RefusedFull %d, want 2", tb.Stats().RefusedFull)
	}
	if tb.Refuses(t0+2*tcp.Instant(time.Second)) || tb.Len() != 1 {
		t.Fatalf("the first entry was due: Refuses true, %d live", tb.Len())
	}
}
