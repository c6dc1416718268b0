package tcp

import (
	"testing"
	"time"
)

// A connection that never counts anything holds no Stats; the first
// counted event allocates them, and a recycled TCB starts without.
func TestStatsLazy(t *testing.T) {
	sink := &nopSink{}
	tcb, r := benchEstablished(t, sink)
	seg := Segment{Flags: FlagACK | FlagPSH, Seq: r, Ack: 1001, Window: 512, Options: Options{HasTS: true, TSVal: 2}, Payload: make([]byte, 100)}
	tcb.Input(&seg, 2e9)
	tcb.Consume(100, 2e9)
	// A reply of several segments (RACK records, loss detection per
	// ACK), acknowledged.
	if n, _ := tcb.Write(make([]byte, 5000), 2e9); n != 5000 {
		t.Fatalf("wrote %d", n)
	}
	ack := Segment{Flags: FlagACK, Seq: r + 100, Ack: tcb.sndMax, Window: 512, Options: Options{HasTS: true, TSVal: 2, TSEcr: tcb.tsNow(2e9)}}
	tcb.Input(&ack, 2e9+1e6)
	if tcb.rec.x == nil || tcb.sndUna != tcb.sndMax {
		t.Fatalf("no multi-segment flight acknowledged: %v una %d max %d", tcb.rec.x != nil, tcb.sndUna, tcb.sndMax)
	}
	r += 100
	if tcb.stats != nil || *tcb.Stats() != (Stats{}) {
		t.Fatalf("a clean exchange allocated Stats %+v", tcb.Stats())
	}
	// An old duplicate with no text is answered with an ACK, counted
	// once the 500 ms limit withholds the second (RFC 5961 §7).
	old := Segment{Flags: FlagACK, Seq: r - 5000, Ack: 1001, Window: 512, Options: Options{HasTS: true, TSVal: 3}}
	for range 2 {
		tcb.Input(&old, 2e9+1e6)
	}
	if tcb.stats == nil || tcb.Stats().OOWACKsLimited != 1 {
		t.Fatalf("rate-limited ACK not counted: %+v", tcb.Stats())
	}
	if noStats != (Stats{}) {
		t.Fatal("the shared zero Stats was written")
	}
	cfg := DefaultConfig()
	initTCB(tcb, &cfg, fuzzID, sink)
	if tcb.stats != nil {
		t.Fatal("a recycled TCB kept its predecessor's Stats")
	}
}

// The out-of-order queue holds storage only while it holds a range:
// out of order, then in order (storage back to the pool), then out of
// order again (the same storage, the right SACK blocks).
func TestOOORangesFollowHoles(t *testing.T) {
	pool := &RangePool{}
	sink := &lastSink{}
	tcb, r := benchEstablished(t, sink)
	cfg := *tcb.cfg
	cfg.Ranges = pool
	tcb.cfg = &cfg
	now := Instant(2e9)
	in := func(seq Seq, n int) {
		seg := Segment{Flags: FlagACK, Seq: seq, Ack: 1001, Window: 512, Options: Options{HasTS: true, TSVal: 2}, Payload: make([]byte, n)}
		tcb.Input(&seg, now)
		now += 1e6
	}
	var held *rangeSet
	for round := range 2 {
		in(r+1000, 500) // a hole of 1000 octets at RCV.NXT
		if tcb.ooo.s == nil || tcb.ooo.n != 1 || pool.InUse() != 1 {
			t.Fatalf("round %d: out-of-order text without storage: %+v, pool %d in use", round, tcb.ooo, pool.InUse())
		}
		if o := sink.last.Options; o.NumSACK != 1 || Seq(o.SACK[0].Left) != r+1000 || Seq(o.SACK[0].Right) != r+1500 {
			t.Fatalf("round %d: SACK %+v, want [%d, %d)", round, o.SACK[:o.NumSACK], r+1000, r+1500)
		}
		if round == 1 && tcb.ooo.s != held {
			t.Fatal("the second hole did not reuse the pooled storage")
		}
		held = tcb.ooo.s
		in(r, 1000) // fills the hole
		if tcb.ooo.s != nil || tcb.ooo.n != 0 || pool.InUse() != 0 || pool.Idle() != 1 {
			t.Fatalf("round %d: filled hole kept its storage: %+v, pool %d in use %d idle", round, tcb.ooo, pool.InUse(), pool.Idle())
		}
		if sink.last.Ack != r+1500 || sink.last.Options.NumSACK != 0 {
			t.Fatalf("round %d: ACK %d with %d SACK blocks after the fill, want %d and none", round, sink.last.Ack, sink.last.Options.NumSACK, r+1500)
		}
		tcb.Consume(1500, now)
		r += 1500
	}
	// More holes than the inline slots: the extension array comes with
	// the storage and stays with it in the pool.
	for i := range 20 {
		in(r+Seq(100+200*i), 100)
	}
	ext := tcb.ooo.s.ext
	if tcb.ooo.n != 20 || len(ext) != DefaultMaxOOORanges {
		t.Fatalf("%d ranges, extension of %d", tcb.ooo.n, len(ext))
	}
	in(r, 4100)
	if tcb.ooo.n != 0 || tcb.ooo.s != nil || pool.Idle() != 1 || &pool.free[0].ext[0] != &ext[0] {
		t.Fatalf("after the fill: %d ranges, storage %p, pool %d idle", tcb.ooo.n, tcb.ooo.s, pool.Idle())
	}
	// A recycled TCB starts with none, and a closing one gives its
	// storage back.
	in(r+5000, 100)
	initTCB(tcb, &cfg, fuzzID, sink)
	if tcb.ooo.s != nil || tcb.ooo.n != 0 || tcb.sb.s != nil || pool.InUse() != 0 {
		t.Fatalf("recycled TCB kept range storage: %+v %+v, pool %d in use", tcb.ooo, tcb.sb, pool.InUse())
	}
}

type lastSink struct{ last Segment }

func (s *lastSink) Emit(_ *ID, seg *Segment) { s.last = *seg }

// A keep-alive connection that sent a reply of several segments holds
// per-flight sender state only while that flight is out: once it is
// acknowledged the state goes back to the loop's SenderPool (keeping
// RACK's min_RTT in the TCB), the next multi-segment reply takes it
// again (the same one, from the pool), and a recycled TCB holds none.
func TestSenderStateFollowsFlights(t *testing.T) {
	pool := &SenderPool{}
	sink := &nopSink{}
	tcb, r := benchEstablished(t, sink)
	cfg := *tcb.cfg
	cfg.Senders = pool
	tcb.cfg = &cfg
	now := Instant(2e9)
	var held *sendState
	for round := range 3 {
		if n, _ := tcb.Write(make([]byte, 5000), now); n != 5000 {
			t.Fatalf("round %d: wrote %d", round, n)
		}
		x := tcb.rec.x
		if x == nil || x.q.n < 2 || pool.InUse() != 1 {
			t.Fatalf("round %d: a flight of %d octets without sender state (%p), pool %d in use",
				round, tcb.sndMax.Sub(tcb.sndUna), x, pool.InUse())
		}
		if round > 0 && x != held {
			t.Fatalf("round %d: the flight did not take the pooled sender state", round)
		}
		if round > 0 && x.rack.minRTTOr(0) != 5*time.Millisecond {
			t.Fatalf("round %d: min_RTT %v after the release, want the 5ms kept", round, x.rack.minRTTOr(0))
		}
		held = x
		// Half the flight acknowledged: still held.
		half := tcb.sndUna.Add(2896)
		ack := Segment{Flags: FlagACK, Seq: r, Ack: half, Window: 512, Options: Options{HasTS: true, TSVal: 2, TSEcr: tcb.tsNow(now)}}
		now += Instant(5 * time.Millisecond)
		tcb.Input(&ack, now)
		if tcb.rec.x == nil {
			t.Fatalf("round %d: sender state released with %d octets in flight", round, tcb.sndMax.Sub(tcb.sndUna))
		}
		ack.Ack = tcb.sndMax
		tcb.Input(&ack, now)
		if tcb.rec.x != nil || pool.InUse() != 0 || pool.Idle() != 1 || tcb.sndUna != tcb.sndMax {
			t.Fatalf("round %d: acknowledged flight kept its sender state %p (pool %d in use, %d idle)",
				round, tcb.rec.x, pool.InUse(), pool.Idle())
		}
		now += Instant(time.Second)
	}
	// A one-segment reply takes none; a recycled TCB holds none.
	tcb.Write(make([]byte, 100), now)
	if tcb.rec.x != nil {
		t.Fatal("a single segment in flight took sender state")
	}
	tcb.Write(make([]byte, 5000), now)
	initTCB(tcb, &cfg, fuzzID, sink)
	if tcb.rec.x != nil || pool.InUse() != 0 || pool.Idle() != 1 {
		t.Fatalf("recycled TCB kept sender state %p, pool %d in use %d idle", tcb.rec.x, pool.InUse(), pool.Idle())
	}
}
