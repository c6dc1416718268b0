package chunk

import (
	"sync"
	"testing"
)

func TestBudgetLevels(t *testing.T) {
	b := NewBudget(64 * Size)
	if s := b.Stats(); s.Low != 32*Size || s.Pressure != 64*Size*2/3 || s.High != 64*Size {
		t.Fatalf("levels %+v", s)
	}
	p := NewPool(b)
	var got []*Chunk
	for {
		c := p.Get(false)
		if c == nil {
			break
		}
		got = append(got, c)
	}
	if len(got) != 64 {
		t.Fatalf("got %d chunks under a 64-chunk budget", len(got))
	}
	if !b.UnderPressure() || b.Stats().PressureEntered != 1 {
		t.Fatalf("at High and not under pressure: %+v", b.Stats())
	}
	// A queue with no chunk still gets one (no deadlock), counted.
	var q Queue
	q.Init(p, 1<<20, true)
	if w := q.Push(make([]byte, 3*Size)); w != Size {
		t.Fatalf("queue at High took %d octets, want one chunk (%d)", w, Size)
	}
	if p.Stats().Forced != 1 || b.Stats().Forced != 1 {
		t.Fatalf("forced chunk not counted: pool %+v budget %+v", p.Stats(), b.Stats())
	}
	// Spilling accepted text is forced too.
	var r Queue
	r.Init(p, 1<<20, true)
	frame := make([]byte, 2*Size)
	r.Append(frame, true)
	r.Spill()
	if r.Chunks() != 2 {
		t.Fatalf("spill of accepted text stored in %d chunks", r.Chunks())
	}
	// Relief only below Low.
	for _, c := range got[:30] {
		p.Put(c)
	}
	if !b.UnderPressure() {
		t.Fatalf("left pressure above Low: %+v", b.Stats())
	}
	for _, c := range got[30:] {
		p.Put(c)
	}
	q.Reset()
	r.Reset()
	if b.UnderPressure() {
		t.Fatalf("still under pressure when empty: %+v", b.Stats())
	}
	if s := p.Stats(); s.InUse != 0 || b.Stats().Used != int64(s.Reserved)*Size {
		t.Fatalf("accounting: pool %+v budget %+v", s, b.Stats())
	}
}

// Pools on several loops share one budget without a lock: what they
// hold never passes High except by forced chunks.
func TestBudgetConcurrent(t *testing.T) {
	b := NewBudget(256 * Size)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := NewPool(b)
			var held []*Chunk
			for i := range 20000 {
				if i%3 != 0 {
					if c := p.Get(false); c != nil {
						held = append(held, c)
					}
				} else if len(held) > 0 {
					p.Put(held[len(held)-1])
					held = held[:len(held)-1]
				}
				if i%64 == 0 {
					p.Recycle()
				}
			}
			for _, c := range held {
				p.Put(c)
			}
		}()
	}
	wg.Wait()
	s := b.Stats()
	if s.Peak > s.High || s.Forced != 0 {
		t.Fatalf("budget passed High: %+v", s)
	}
	if s.Used > 4*2*Batch*Size {
		t.Fatalf("idle pools still hold %d octets of budget: %+v", s.Used, s)
	}
}

func TestNilBudget(t *testing.T) {
	if NewBudget(0) != nil {
		t.Fatal("NewBudget(0) is not unlimited")
	}
	var b *Budget
	if b.UnderPressure() || b.Free() != -1 || b.Stats() != (BudgetStats{}) {
		t.Fatal("nil budget misreports")
	}
	p := NewPool(nil)
	for range 1000 {
		if p.Get(false) == nil {
			t.Fatal("unlimited pool refused")
		}
	}
}
