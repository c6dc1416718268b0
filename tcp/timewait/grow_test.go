package timewait

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sluicenet/sluice/tcp"
)

// TestGrowthModel: a table growing to 4000 entries while entries are
// removed, restarted and expired, its ring numbers wrapping (the ring
// starts just short of 2^ringBits), checked against a map: every entry
// is found, with its expiry, in whichever index holds it while the index
// grows, and the table's counts agree.
func TestGrowthModel(t *testing.T) {
	const max, flows = 4000, 6000
	tb := newTable(t, max)
	tb.head = ringMask - 3*chunkLen/2 // an empty ring may start anywhere
	model := map[tcp.ID]tcp.Instant{}
	r := rand.New(rand.NewPCG(5, 6))
	now := t0
	life := tcp.Instant(2 * msl)
	grew := 0
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
		if tb.old != nil {
			grew++
		}
		if tb.Len() != len(model) {
			t.Fatalf("step %d: Len %d, model %d", step, tb.Len(), len(model))
		}
		if step%5003 == 0 || (tb.old != nil && step%61 == 0) {
			for k, exp := range model {
				if _, e, ok := tb.Lookup(&k, now); !ok || e != exp {
					t.Fatalf("step %d: %v expiry %d ok %v, want %d", step, k, e, ok, exp)
				}
			}
		}
	}
	if grew == 0 || len(tb.idx) < max || tb.head > ringMask/2 {
		t.Fatalf("no growth or no wrap: %d steps growing, index %d, head %d", grew, len(tb.idx), tb.head)
	}
	t.Logf("stats %+v, %d steps with two indexes", tb.Stats(), grew)
}
