package sluice

import (
	"strings"
	"testing"
	"time"

	"github.com/sluicenet/sluice/sched"
	"github.com/sluicenet/sluice/wire"
)

// TestDropWatch: a fixable reason is said when its count first grows,
// not again while it stays, and again only once dropWarnEvery passed.
func TestDropWatch(t *testing.T) {
	st := &Stats{GroupStats: sched.GroupStats{Loops: make([]sched.Stats, 2)}}
	var w dropWatch
	t0 := time.Unix(1000, 0)
	if got := w.check(st, t0); len(got) != 0 {
		t.Fatalf("nothing dropped, warned %v", got)
	}
	st.Loops[1].Drops[wire.DropPartialChecksum] = 3
	st.Loops[0].Drops[wire.DropBadTCPChecksum] = 9 // not fixable: never said
	got := w.check(st, t0)
	if len(got) != 1 || got[0].Reason != "partial TCP checksum" || got[0].Count != 3 {
		t.Fatalf("first partial checksums: warned %+v", got)
	}
	if got := w.check(st, t0.Add(time.Second)); len(got) != 0 {
		t.Fatalf("count unchanged, warned again: %+v", got)
	}
	st.Loops[0].Drops[wire.DropPartialChecksum] = 1
	if got := w.check(st, t0.Add(2*time.Second)); len(got) != 0 {
		t.Fatalf("count grew within dropWarnEvery, warned again: %+v", got)
	}
	st.LimitResets = 1
	st.Loops[0].Drops[wire.DropPartialChecksum] = 2
	got = w.check(st, t0.Add(dropWarnEvery+time.Second))
	if len(got) != 2 || got[0].Count != 5 || got[1].Reason != "connection limit" {
		t.Fatalf("after dropWarnEvery: warned %+v, want partial checksums (5) and the connection limit", got)
	}
}

// TestFixableXSKDropped: the AF_XDP sockets' rx_dropped (frames larger
// than a UMEM frame, e.g. a peer's GSO super-frames under generic XDP) is
// a fixable reason, summed over the loops, with its fix.
func TestFixableXSKDropped(t *testing.T) {
	st := &Stats{GroupStats: sched.GroupStats{Loops: make([]sched.Stats, 2)}}
	if got := st.FixableDrops(); len(got) != 0 {
		t.Fatalf("nothing dropped, listed %+v", got)
	}
	st.Loops[0].XSK.RxDropped = 2
	st.Loops[1].XSK.RxDropped = 5
	got := st.FixableDrops()
	if len(got) != 1 || got[0].Reason != "AF_XDP socket dropped oversized frames" || got[0].Count != 7 ||
		!strings.Contains(got[0].Fix, "`ethtool -K <peer> tso off gso off`") || !strings.Contains(got[0].Fix, "driver mode") {
		t.Fatalf("XSK rx_dropped 2+5: listed %+v", got)
	}
}
