package tcp

import "testing"

// takesTail keeps the last TailSink and non-TailSink types it saw: asked
// in turn of TCBs whose Sinks alternate among types, including FlowSinks
// that are not wrapped, each answer must still be the Sink's own.
func TestTakesTailAcrossSinkTypes(t *testing.T) {
	cfg := DefaultConfig()
	sinks := []Sink{&nopSink{}, &tailSink{}, &pushSink{}, &tailPushSink{}, &tailFlowSink{}, &plainFlowSink{}}
	tcbs := make([]*TCB, len(sinks))
	for i, s := range sinks {
		tcbs[i] = newTCB(&cfg, fuzzID, s)
	}
	for round := 0; round < 3; round++ {
		for _, order := range [][]int{{0, 1, 2, 3, 4, 5}, {5, 4, 3, 2, 1, 0}, {1, 1, 0, 0, 4, 5, 4, 5}} {
			for _, i := range order {
				_, want := sinks[i].(TailSink)
				if got := tcbs[i].takesTail(); got != want {
					t.Fatalf("round %d: %T: takes tail %v, want %v", round, sinks[i], got, want)
				}
			}
		}
	}
}

// tailFlowSink and plainFlowSink are FlowSinks (not wrapped in an
// idSink), with and without the TailSink mark.
type (
	plainFlowSink struct{ nopSink }
	tailFlowSink  struct{ plainFlowSink }
)

func (s *plainFlowSink) EmitFlow(_ *TCB, seg *Segment) { s.Emit(&fuzzID, seg) }
func (*plainFlowSink) FlowID(*TCB) ID                  { return fuzzID }
func (*tailFlowSink) TakesTail()                       {}
