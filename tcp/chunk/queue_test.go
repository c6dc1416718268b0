package chunk

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"testing"
)

// model is the reference: a byte ring's semantics without chunks.
type model struct {
	data    []byte // positions 0.. relative to the head
	written []bool
	n       int
}

func (m *model) write(pos int, p []byte) {
	for len(m.data) < pos+len(p) {
		m.data = append(m.data, 0)
		m.written = append(m.written, false)
	}
	copy(m.data[pos:], p)
	for i := range p {
		m.written[pos+i] = true
	}
}

func (m *model) consume(k int) {
	k = min(k, m.n)
	m.n -= k
	if k > len(m.data) {
		k = len(m.data)
	}
	m.data, m.written = m.data[k:], m.written[k:]
}

func check(t *testing.T, q *Queue, m *model, step int) {
	t.Helper()
	if q.Len() != m.n {
		t.Fatalf("step %d: Len %d, model %d", step, q.Len(), m.n)
	}
	got := make([]byte, q.Len())
	if k := q.ReadAt(0, got); k != m.n {
		t.Fatalf("step %d: ReadAt %d of %d", step, k, m.n)
	}
	if !bytes.Equal(got, m.data[:m.n]) {
		t.Fatalf("step %d: text differs", step)
	}
	if q.Extent() == 0 && (q.Chunks() != 0 || q.s != nil) {
		t.Fatalf("step %d: empty queue holds %d chunks (state %v)", step, q.Chunks(), q.s != nil)
	}
	if q.s != nil && q.Chunks() > int(q.s.span) || q.Extent() < q.Len() {
		t.Fatalf("step %d: chunks %d ext %d n %d", step, q.Chunks(), q.Extent(), q.Len())
	}
}

// TestModel drives a queue and the reference with the same random
// operations, as the TCB does: pushes, reassembly writes past Len that
// later become in order, held text, partial reads, consumes, pruning.
func TestModel(t *testing.T) {
	for seed := range uint64(10) {
		r := rand.New(rand.NewPCG(seed, 7))
		p := NewPool(nil)
		var q Queue
		limit := 1 + r.IntN(64<<10)
		q.Init(p, limit, true)
		m := &model{}
		src := make([]byte, 8*Size)
		for i := range src {
			src[i] = byte(r.Uint32())
		}
		for step := range 2000 {
			o := r.IntN(4 * Size)
			buf := src[o : o+4*Size]
			switch op := r.IntN(9); op {
			case 0, 1: // push
				k := r.IntN(2 * Size)
				w := q.Push(buf[:k])
				if w != min(k, limit-m.n) {
					t.Fatalf("step %d: Push %d took %d, free %d", step, k, w, limit-m.n)
				}
				m.write(m.n, buf[:w])
				m.n += w
			case 2: // out-of-order write, then maybe fill the hole
				if q.Free() < 2 || q.Held() {
					continue
				}
				off := 1 + r.IntN(min(q.Free()-1, 2*Size))
				k := min(r.IntN(2*Size), q.Free()-off)
				q.WriteAt(off, buf[:k])
				m.write(m.n+off, buf[:k])
				if r.IntN(2) == 0 {
					q.WriteAt(0, buf[k:k+off])
					m.write(m.n, buf[k:k+off])
					// in order now up to the written prefix
					e := m.n
					for e < len(m.written) && m.written[e] {
						e++
					}
					q.Extend(e - m.n)
					m.n = e
				}
			case 3: // append, maybe held
				k := min(r.IntN(2*Size), q.Free()-(q.Extent()-q.Len()))
				if k <= 0 || q.Extent() > q.Len() {
					continue
				}
				hold := r.IntN(2) == 0
				frame := append([]byte(nil), buf[:k]...)
				if w := q.Append(frame, hold); w != k {
					t.Fatalf("step %d: Append took %d of %d", step, w, k)
				}
				m.write(m.n, buf[:k])
				m.n += k
				if hold && r.IntN(2) == 0 {
					q.Spill()
				}
				if q.Held() {
					q.Spill()
				}
				clear(frame) // the frame's memory reused, after Spill
			case 4, 5: // consume
				k := r.IntN(q.Len() + 1)
				a, b := q.Peek()
				if len(a)+len(b) > q.Len() || (q.Len() > 0 && len(a) == 0) {
					t.Fatalf("step %d: Peek %d+%d of %d", step, len(a), len(b), q.Len())
				}
				if !bytes.Equal(append(append([]byte(nil), a...), b...), m.data[:len(a)+len(b)]) {
					t.Fatalf("step %d: Peek text differs", step)
				}
				var all []byte
				for _, r := range q.Runs(nil) {
					all = append(all, r...)
				}
				if !bytes.Equal(all, m.data[:m.n]) {
					t.Fatalf("step %d: Runs text differs", step)
				}
				q.Consume(k)
				m.consume(k)
				p.Recycle()
			case 6: // slice
				if q.Len() == 0 {
					continue
				}
				off := r.IntN(q.Len())
				s := q.Slice(off, 1+r.IntN(2*Size))
				if len(s) == 0 || !bytes.Equal(s, m.data[off:off+len(s)]) {
					t.Fatalf("step %d: Slice(%d) wrong (%d octets)", step, off, len(s))
				}
				k := 1 + r.IntN(3*Size)
				g := q.Gather(off, k)
				if len(g) != min(k, m.n-off) || !bytes.Equal(g, m.data[off:off+len(g)]) {
					t.Fatalf("step %d: Gather(%d, %d) wrong (%d octets)", step, off, k, len(g))
				}
				a, next, n := q.Runs2(off, k)
				ab := append([]byte(nil), a...)
				if n > 0 {
					ab = append(ab, next[:n]...)
				}
				if len(ab) != min(len(g), len(a)+Size) || !bytes.Equal(ab, m.data[off:off+len(ab)]) {
					t.Fatalf("step %d: Runs2(%d, %d) wrong (%d+%d octets)", step, off, k, len(a), n)
				}
				if n > 0 && (int(q.s.off)+off+len(a))&(Size-1) != 0 {
					t.Fatalf("step %d: Runs2(%d, %d): first run of %d octets does not end a chunk", step, off, k, len(a))
				}
			case 7: // prune out-of-order text
				from := q.Len() + r.IntN(q.Extent()-q.Len()+1)
				q.Discard(from)
				if from < len(m.data) {
					m.data, m.written = m.data[:from], m.written[:from]
				}
			case 8: // read everything (a keeping-up reader)
				q.Consume(q.Len())
				m.consume(m.n)
				if q.Extent() == 0 && q.Chunks() != 0 {
					t.Fatalf("step %d: drained queue holds chunks", step)
				}
			}
			check(t, &q, m, step)
			if p.Stats().InUse != q.Chunks() {
				t.Fatalf("step %d: pool in use %d, queue %d", step, p.Stats().InUse, q.Chunks())
			}
		}
		q.Reset()
		if s := p.Stats(); s.InUse != 0 {
			t.Fatalf("seed %d: %d chunks in use after Reset", seed, s.InUse)
		}
	}
}

// An idle queue holds nothing: after its text is read, no chunk and no
// directory remain.
func TestDrainedHoldsNothing(t *testing.T) {
	p := NewPool(nil)
	var q Queue
	q.Init(p, 1<<20, true)
	msg := bytes.Repeat([]byte("x"), 3*Size+100)
	if q.Push(msg) != len(msg) || q.Chunks() != 4 {
		t.Fatalf("push: %d chunks", q.Chunks())
	}
	q.Consume(Size + 1)
	if q.Chunks() != 3 {
		t.Fatalf("after consuming a chunk: %d chunks, want 3", q.Chunks())
	}
	// 3 chunks from offset 1 of the first: the rest of the last is room.
	if want := 3*Size - 1 - q.Len(); q.Room() != want {
		t.Fatalf("room %d with %d octets in 3 chunks, want %d", q.Room(), q.Len(), want)
	}
	q.Consume(q.Len())
	if q.Room() != Size {
		t.Fatalf("room %d of an empty queue, want one chunk", q.Room())
	}
	if q.Chunks() != 0 || q.s != nil || p.Stats().InUse != 0 {
		t.Fatalf("drained: %d chunks, state %v, pool %+v", q.Chunks(), q.s != nil, p.Stats())
	}
	// Held text takes no chunk at all when read at once.
	q.Append([]byte("hello"), true)
	// Its room is what is left of the chunk Spill will put it in.
	if q.Room() != Size-5 {
		t.Fatalf("room %d with 5 held octets, want %d", q.Room(), Size-5)
	}
	q.Consume(5)
	if s := p.Stats(); s.InUse != 0 || q.Chunks() != 0 {
		t.Fatalf("held: %+v", s)
	}
}

// Consumed chunks are not reused before Recycle: a slice Peek returned
// before Consume stays intact through a Write into another queue.
func TestRecycleDefersReuse(t *testing.T) {
	p := NewPool(nil)
	var rcv, snd Queue
	rcv.Init(p, 1<<16, true)
	snd.Init(p, 1<<16, false)
	rcv.Push([]byte("request"))
	a, _ := rcv.Peek()
	rcv.Consume(len(a))
	snd.Push(bytes.Repeat([]byte{'R'}, Size))
	if string(a) != "request" {
		t.Fatalf("peeked text overwritten before Recycle: %q", a)
	}
	p.Recycle()
	var q Queue
	q.Init(p, Size, true)
	q.Push([]byte("Z"))
	if a[0] != 'Z' {
		t.Fatalf("recycled chunk not reused (cache): %q", a[:1])
	}
}

// A queue that empties holding one chunk keeps it with its state in the
// pool (warm): the next queue to take a first octet reuses all three,
// a receive queue's only after Recycle, and an empty queue holds none.
func TestWarmState(t *testing.T) {
	p := NewPool(NewBudget(1 << 20))
	var snd, rcv, other Queue
	snd.Init(p, 64<<10, false)
	rcv.Init(p, 64<<10, true)
	other.Init(p, 64<<10, false)

	snd.Push([]byte("request"))
	snd.Consume(snd.Len())
	if snd.s != nil || p.Stats().InUse != 0 || p.Stats().Cached != 1 {
		t.Fatalf("emptied send queue: state %v, pool %+v", snd.s != nil, p.Stats())
	}
	other.Push([]byte("answer"))
	if a := p.Stats().Allocated; a != 1 || p.Stats().InUse != 1 {
		t.Fatalf("warm chunk not reused: pool %+v", p.Stats())
	}
	other.Consume(other.Len())

	rcv.Append([]byte("abc"), false)
	a, _ := rcv.Peek()
	rcv.Consume(3)
	if rcv.s != nil || p.Stats().Retired != 1 {
		t.Fatalf("emptied receive queue: state %v, pool %+v", rcv.s != nil, p.Stats())
	}
	other.Push([]byte("xyz")) // a new chunk: the retired one waits for Recycle
	if string(a) != "abc" {
		t.Fatalf("retired chunk reused before Recycle: %q", a)
	}
	other.Consume(other.Len())
	p.Recycle()
	if s := p.Stats(); s.Retired != 0 || s.Cached != 2 || s.InUse != 0 || s.Allocated != 2 {
		t.Fatalf("after Recycle: pool %+v", s)
	}
	// A chunk asked for outright takes a warm state's chunk before the heap.
	for range 3 {
		other.Push(make([]byte, Size))
	}
	if s := p.Stats(); s.Allocated != 3 || s.InUse != 3 || s.Cached != 0 {
		t.Fatalf("three chunks from two warm states: pool %+v", s)
	}
	other.Reset()
	if s := p.Stats(); s.InUse != 0 {
		t.Fatalf("reset: pool %+v", s)
	}
}

// TestWarmResetsEveryField: qstate.warm, which stores field by field,
// leaves exactly qstate{dir: s.dir, span: 1, chunks: 1} whatever the
// fields held; a field added to qstate fails it until warm and the test
// both reset it.
func TestWarmResetsEveryField(t *testing.T) {
	if n := reflect.TypeFor[qstate]().NumField(); n != 9 {
		t.Fatalf("qstate has %d fields, the test knows 9: reset the new one in warm and set it here", n)
	}
	dir := make([]*Chunk, 1)
	var b byte
	s := &qstate{dir: dir, lent: &lending{}, held: &b, dh: 1, off: 2, span: 3, chunks: 4, n: 5, ext: 6}
	s.warm()
	if want := (qstate{dir: dir, span: 1, chunks: 1}); !reflect.DeepEqual(*s, want) {
		t.Fatalf("warm left %+v, want %+v", *s, want)
	}
}
