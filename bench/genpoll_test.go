package main

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sluicenet/sluice/afxdp"
	"github.com/sluicenet/sluice/testbed"
)

// TestGenPollFlag: -gen-poll parses "off" and its four fields, prints
// back what it parsed, and refuses what it cannot use.
func TestGenPollFlag(t *testing.T) {
	var g genPoll
	if err := g.Set(genPollDefault.String()); err != nil || g != genPollDefault {
		t.Fatalf("default %v round trip: %v, %v", genPollDefault, g, err)
	}
	if err := g.Set("1,50us,0s,5us"); err != nil {
		t.Fatal(err)
	}
	want := genPoll{deferIRQs: 1, flush: 50 * time.Microsecond, busy: 5 * time.Microsecond}
	if g != want || g.busyPoll().Timeout != 5*time.Microsecond || !g.busyPoll().Prefer {
		t.Fatalf("got %+v", g)
	}
	if err := g.Set("off"); err != nil || !g.off || g.busyPoll().Timeout != 0 || g.String() != "off" {
		t.Fatalf("off: %+v, %v", g, err)
	}
	for _, bad := range []string{"", "2,200us", "x,200us,20ms,10us", "2,200us,20ms,0s", "2,200us,20ms,ten"} {
		if err := g.Set(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestGenPollNAPI: -gen-poll's settings reach every NAPI instance of the
// peer end, and what saveNAPI read before, irq-suspend-timeout included,
// is what the restore puts back.
func TestGenPollNAPI(t *testing.T) {
	bed := testbed.New(t, testbed.Options{})
	if err := bed.Peer.SetGRO(true); err != nil {
		t.Fatal(err)
	}
	st, err := saveNAPI(bed.Peer)
	if errors.Is(err, afxdp.ErrNoNAPISet) && !testbed.InCI() {
		t.Skipf("kernel without netdev napi-set: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(st.saved) == 0 {
		t.Fatalf("%s with GRO on lists no NAPI instance", bed.Peer.Link)
	}
	list := func() []afxdp.NAPI {
		t.Helper()
		now, err := saveNAPI(bed.Peer)
		if err != nil {
			t.Fatal(err)
		}
		return now.saved
	}
	g := genPollDefault
	err = setGenPoll(st, g)
	if errors.Is(err, afxdp.ErrNoNAPISet) && !testbed.InCI() {
		t.Skipf("kernel without IRQ suspension: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range list() {
		if n.DeferHardIRQs != g.deferIRQs || n.GROFlushTimeout != g.flush || !n.HasIRQSuspendTimeout || n.IRQSuspendTimeout != g.suspend {
			t.Errorf("with -gen-poll %v: %+v", g, n)
		}
	}
	if err := st.restore(); err != nil {
		t.Fatal(err)
	}
	if after := list(); !slices.Equal(after, st.saved) {
		t.Errorf("restored: %+v, want %+v", after, st.saved)
	}
}
