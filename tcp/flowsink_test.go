package tcp

import "testing"

type (
	tailSink     struct{ nopSink }
	pushSink     struct{ nopSink }
	tailPushSink struct{ nopSink }
)

func (*tailSink) TakesTail()            {}
func (*pushSink) PushesAfterInput()     {}
func (*tailPushSink) TakesTail()        {}
func (*tailPushSink) PushesAfterInput() {}

// A TCB given a plain Sink keeps its 4-tuple in an idSink, which must
// keep the Sink's TailSink and PushSink marks (the TCB looks for them
// on what it emits through) and be reused when the TCB is recycled.
func TestIDSinkKeepsMarks(t *testing.T) {
	cfg := DefaultConfig()
	for _, s := range []Sink{&nopSink{}, &tailSink{}, &pushSink{}, &tailPushSink{}} {
		_, tail := s.(TailSink)
		_, push := s.(PushSink)
		tcb := newTCB(&cfg, fuzzID, s)
		if tcb.takesTail() != tail || tcb.pushes() != push {
			t.Errorf("%T: takes tail %v, pushes %v; want %v, %v", s, tcb.takesTail(), tcb.pushes(), tail, push)
		}
		if id := tcb.ID(); id != fuzzID {
			t.Errorf("%T: ID %v, want %v", s, id, fuzzID)
		}
		w := tcb.sink
		if initTCB(tcb, &cfg, fuzzID, s); tcb.sink != w {
			t.Errorf("%T: a recycled TCB took a new idSink", s)
		}
	}
}
