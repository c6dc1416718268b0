package chunk

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// lendRec is one Lend of the model test: its buffer, where its text ends
// in the stream, and how often its release ran.
type lendRec struct {
	buf      []byte
	end      int // stream offset one past its last octet
	released int
	cleared  bool // scribbled over once released
}

// TestLendModel mixes Push, Lend and Consume as a sending TCB does and
// checks the text against a model, that every release runs once and only
// after the queue consumed past the run's last whole page, and that
// scribbling over a released buffer does not change what the queue
// still holds.
func TestLendModel(t *testing.T) {
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 7))
		p := NewPool(NewBudget(1 << 30))
		var q Queue
		q.Init(p, 64<<10, false)
		var m model
		var recs []*lendRec
		consumed, written := 0, 0
		var done []func()
		for step := range 400 {
			switch op := r.IntN(10); {
			case op < 3: // a short copied write (a response head)
				b := make([]byte, r.IntN(300)+1)
				fill(r, b)
				k := q.Push(b)
				m.write(m.n, b[:k])
				m.n += k
				written += k
			case op < 6: // a lent body, any length and alignment
				b := make([]byte, r.IntN(5*Size)+1)
				fill(r, b)
				rec := &lendRec{buf: b}
				if k := q.Lend(b, func() { rec.released++ }); k == 0 {
					if len(b) >= LendMin {
						t.Fatalf("seed %d step %d: Lend of %d refused", seed, step, len(b))
					}
					continue
				}
				m.write(m.n, b)
				m.n += len(b)
				written += len(b)
				rec.end = written
				recs = append(recs, rec)
			default:
				k := r.IntN(3*Size + 1)
				if r.IntN(4) == 0 {
					k = q.Len()
				}
				k = min(k, q.Len())
				q.Consume(k)
				m.consume(k)
				consumed += k
			}
			done = p.TakeDone(done[:0])
			for _, f := range done {
				f()
			}
			for i, rec := range recs {
				switch {
				case rec.released > 1:
					t.Fatalf("seed %d step %d: lend %d released %d times", seed, step, i, rec.released)
				case rec.released == 1 && consumed < rec.end-2*Size:
					t.Fatalf("seed %d step %d: lend %d released at %d, its pages reach %d", seed, step, i, consumed, rec.end-Size)
				case rec.released == 0 && consumed >= rec.end:
					t.Fatalf("seed %d step %d: lend %d consumed whole (%d >= %d), not released", seed, step, i, consumed, rec.end)
				case rec.released == 1 && !rec.cleared:
					rec.cleared = true
					for j := range rec.buf { // the lender owns it again
						rec.buf[j] = 0xEE
					}
				}
			}
			check(t, &q, &m, step)
		}
		q.Consume(q.Len())
		for _, f := range p.TakeDone(nil) {
			f()
		}
		for i, rec := range recs {
			if rec.released != 1 {
				t.Fatalf("seed %d: lend %d released %d times after all was consumed", seed, i, rec.released)
			}
		}
		if st := p.Stats(); st.InUse != 0 || q.Lent() != 0 {
			t.Fatalf("seed %d: %d chunks in use, %d runs lent after all was consumed", seed, st.InUse, q.Lent())
		}
	}
}

func fill(r *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(r.Uint32())
	}
}

// TestLendInPlace: the lent pages are read in place (no copy), only the
// head and tail take chunks, and the budget is not charged for the rest.
func TestLendInPlace(t *testing.T) {
	p := NewPool(NewBudget(1 << 30))
	var q Queue
	q.Init(p, 1024, false) // a small limit: Lend ignores it
	q.Push([]byte("HTTP/1.1 200 OK\r\n\r\n"))
	body := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	released := false
	if k := q.Lend(body, func() { released = true }); k != len(body) {
		t.Fatalf("Lend took %d of %d", k, len(body))
	}
	if q.Chunks() > 2 {
		t.Fatalf("%d chunks for a lent MiB: want head and tail only", q.Chunks())
	}
	lo, hi := uintptr(unsafe.Pointer(&body[0])), uintptr(unsafe.Pointer(&body[len(body)-1]))
	s := q.Slice(Size+100, 500)
	if a := uintptr(unsafe.Pointer(&s[0])); a < lo || a > hi {
		t.Fatalf("Slice in a lent page is not the lent memory")
	}
	got := make([]byte, q.Len())
	q.ReadAt(0, got)
	if !bytes.Equal(got[19:], body) {
		t.Fatal("text differs")
	}
	q.Consume(q.Len() - 10)
	if released || len(p.done) != 1 {
		t.Fatalf("released before TakeDone (%v) or not queued (%d)", released, len(p.done))
	}
	for _, f := range p.TakeDone(nil) {
		f()
	}
	if !released {
		t.Fatal("not released")
	}
	if q.Lent() != 0 || q.Len() != 10 {
		t.Fatalf("%d runs lent, Len %d", q.Lent(), q.Len())
	}
}

// TestLendReset: a reset queue (the connection ended) releases every
// run; a receive queue and short text are refused.
func TestLendReset(t *testing.T) {
	p := NewPool(nil)
	var q Queue
	q.Init(p, 1024, false)
	n := 0
	for range 3 {
		q.Lend(make([]byte, 3*Size+5), func() { n++ })
	}
	q.Reset()
	for _, f := range p.TakeDone(nil) {
		f()
	}
	if n != 3 || p.Stats().InUse != 0 {
		t.Fatalf("released %d of 3, %d chunks in use", n, p.Stats().InUse)
	}
	if q.Lend(make([]byte, LendMin-1), func() {}) != 0 {
		t.Fatal("short text lent")
	}
	var rq Queue
	rq.Init(p, 1<<20, true)
	if rq.Lend(make([]byte, 4*Size), func() {}) != 0 {
		t.Fatal("receive queue lent")
	}
}

func BenchmarkLendConsume(b *testing.B) {
	p := NewPool(nil)
	var q Queue
	q.Init(p, 64<<10, false)
	body := make([]byte, 1<<20)
	var done []func()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		q.Push([]byte("head"))
		q.Lend(body, nil)
		for q.Len() > 0 {
			q.Consume(1448)
		}
		done = p.TakeDone(done[:0])
	}
}
