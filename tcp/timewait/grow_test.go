package timewait

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sluicenet/sluice/tcp"
)

// TestModelFull: a table of Max 4000 taking inserts, removals, restarts
// and expiries until it is full and refusing, its ring numbers wrapping
// (the ring starts just short of 2^ringBits), checked against a map:
// every entry is found with its expiry, the counts agree, and the index
// keeps the size New gave it, one live word per live entry, at most half
// full.
func TestModelFull(t *testing.T) {
	const max, flows = 4000, 20000
	tb := newTable(t, max)
	tb.head = ringMask - 3*chunkLen/2 // an empty ring may start anywhere
	words := len(tb.idx)
	if words != 8192 {
		t.Fatalf("index of %d words for Max %d, want 8192", words, max)
	}
	model := map[tcp.ID]tcp.Instant{}
	r := rand.New(rand.NewPCG(5, 6))
	now := t0
	life := tcp.Instant(2 * msl)
	full := 0
	for step := range 100_000 {
		id := flowN(r.IntN(flows))
		switch op := r.IntN(20); {
		case op < 12:
			if ok := tb.Insert(&id, &State{RcvNxt: 100}, now); ok != (len(model) < max) {
				t.Fatalf("step %d: insert ok=%v, len %d", step, ok, len(model))
			} else if ok {
				model[id] = now + life
			}
		case op < 14:
			_, had := model[id]
			if tb.Remove(&id) != had {
				t.Fatalf("step %d: remove mismatch, model has=%v", step, had)
			}
			delete(model, id)
		case op < 17:
			modelFIN(t, tb, model, &id, now, step)
		default:
			now += tcp.Instant(r.Int64N(int64(100 * time.Millisecond)))
			tb.Expire(now)
			for k, exp := range model {
				if exp <= now {
					delete(model, k)
				}
			}
		}
		if len(model) == max {
			full++
		}
		if tb.Len() != len(model) {
			t.Fatalf("step %d: Len %d, model %d", step, tb.Len(), len(model))
		}
		if step%5003 == 0 || (len(model) == max && step%61 == 0) {
			for k, exp := range model {
				if _, e, ok := tb.Lookup(&k, now); !ok || e != exp {
					t.Fatalf("step %d: %v expiry %d ok %v, want %d", step, k, e, ok, exp)
				}
			}
			n := 0
			for _, w := range tb.idx {
				if w != 0 {
					n++
				}
			}
			if len(tb.idx) != words || n != tb.Len() || 2*n > words {
				t.Fatalf("step %d: index of %d words (New gave %d) holds %d, %d live", step, len(tb.idx), words, n, tb.Len())
			}
		}
	}
	if full == 0 || tb.head > ringMask/2 {
		t.Fatalf("never full or no wrap: %d steps full, head %d", full, tb.head)
	}
	t.Logf("stats %+v, %d steps full", tb.Stats(), full)
}

// TestIndexWords: New sizes the index for Max at load at most 1/2, a
// power of two of at least 128 words: 2^19 (2 MiB) at DefaultMax, 2^24
// (64 MiB) at MaxLimit.
func TestIndexWords(t *testing.T) {
	for _, c := range []struct{ max, words int }{
		{1, 128}, {64, 128}, {65, 256}, {4000, 8192}, {1 << 17, 1 << 18},
		{1_000_000, 1 << 21}, {DefaultMax, 1 << 19}, {MaxLimit, 1 << 24},
	} {
		if w := indexWords(c.max); w != c.words {
			t.Errorf("indexWords(%d) = %d, want %d", c.max, w, c.words)
		}
	}
	tb, err := New(Config{})
	if err != nil || len(tb.idx) != 1<<19 || tb.idxMask != 1<<19-1 {
		t.Fatalf("default table: %v, index of %d words", err, len(tb.idx))
	}
}

// TestLimits: at MaxLimit the ring (Max + Max/8 + 8 slots) stays more than
// a chunk short of a full turn of the ring numbers, so the tail never
// reaches the head's chunk; every ring number fits an index word's slot
// field; and no tag makes a word that reads as empty.
func TestLimits(t *testing.T) {
	tb := newTable(t, MaxLimit)
	if limit := 1<<ringBits - chunkLen; tb.ringMax >= limit {
		t.Errorf("ring of %d slots at MaxLimit, want below %d", tb.ringMax, limit)
	}
	if ringBits > slotBits || 32-slotBits != 8 {
		t.Errorf("ring numbers of %d bits in a %d-bit slot field beside a %d-bit tag", ringBits, slotBits, 32-slotBits)
	}
	if n := len(tb.chunks); n != 1<<(ringBits-chunkBits) || n > 4096 {
		t.Errorf("%d chunk pointers", n)
	}
	for _, h := range []uint64{0, 1<<56 - 1, 1 << 56, 0xff << 56, math.MaxUint64} {
		if tg := tagOf(h); tg == 0 || tg > 0xff || tg != uint32(h>>56) && h>>56 != 0 {
			t.Errorf("tagOf(%#x) = %#x", h, tg)
		}
	}
}

// TestRingTop: entries at the top ring numbers (every slot bit set) and
// past the wrap to 0, among them 4-tuples whose hash has a top byte of 0
// (the tag taken as 1), are found through the index with their slots,
// restarted, removed and expired, and leave the index empty.
func TestRingTop(t *testing.T) {
	const n = 48
	tb := newTable(t, 64)
	tb.head = ringMask - 7
	for _, id := range []tcp.ID{flowN(0), flowN(1)} {
		tb.localIndex(id.LocalAddr.As16(), true)
	}
	// Every sixth flow, the one in slot 0 among them, has a tag of 0:
	// were it kept as 0, slot 0's word would read as empty.
	var zero, other []tcp.ID
	for i := 0; len(zero) < n/6 || len(other) < n-n/6; i++ {
		id := flowN(i)
		k, _ := tb.keyOf(&id)
		if tb.hash(&k)>>56 == 0 {
			zero = append(zero, id)
		} else {
			other = append(other, id)
		}
	}
	ids := make([]tcp.ID, n)
	for i := range ids {
		if i%6 == 2 {
			ids[i], zero = zero[0], zero[1:]
		} else {
			ids[i], other = other[0], other[1:]
		}
	}
	now := t0
	for i := range ids {
		if !tb.Insert(&ids[i], &State{RcvNxt: 100}, now+tcp.Instant(i)) {
			t.Fatalf("insert %d refused", i)
		}
	}
	life := tcp.Instant(2 * msl)
	model := map[tcp.ID]tcp.Instant{}
	for i := range ids {
		k, _ := tb.keyOf(&ids[i])
		if _, s := tb.find(&k, tb.hash(&k)); s != (ringMask-7+i)&ringMask {
			t.Fatalf("flow %d in slot %#x, want %#x", i, s, (ringMask-7+i)&ringMask)
		}
		model[ids[i]] = now + tcp.Instant(i) + life
	}
	now++
	for i := range ids {
		switch i % 3 {
		case 0:
			if !tb.Remove(&ids[i]) {
				t.Fatalf("remove %d: not found", i)
			}
			delete(model, ids[i])
		case 1:
			modelFIN(t, tb, model, &ids[i], now, i)
		}
	}
	for k, exp := range model {
		if _, e, ok := tb.Lookup(&k, now); !ok || e != exp {
			t.Fatalf("%v: expiry %d ok %v, want %d", k, e, ok, exp)
		}
	}
	if tb.Expire(now+life+n) != len(model) || tb.Len() != 0 || tb.used != 0 {
		t.Fatalf("after the last expiry: %d live, %d ring slots used", tb.Len(), tb.used)
	}
	for i, w := range tb.idx {
		if w != 0 {
			t.Fatalf("index word %d is %#x after every entry left", i, w)
		}
	}
}
