package afxdp

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/vishvananda/netlink/nl"

	"github.com/sluicenet/sluice/testbed"
)

// TestNAPIAttrs: napi-set carries irq-suspend-timeout only when asked to,
// so a kernel without it (Linux < 6.13) gets the request it always got;
// a napi-get reply without it lists it absent, one with it (as u32 or
// u64) present, 0 included.
func TestNAPIAttrs(t *testing.T) {
	types := func(n NAPI) (ts []uint16, suspend []byte) {
		for _, a := range napiSetAttrs(n) {
			ts = append(ts, a.Type)
			if a.Type == netdevANAPIIRQSuspend {
				suspend = a.Data
			}
		}
		return ts, suspend
	}
	n := NAPI{ID: 9, DeferHardIRQs: 2, GROFlushTimeout: 200 * time.Microsecond, IRQSuspendTimeout: 20 * time.Millisecond}
	if ts, _ := types(n); !slices.Equal(ts, []uint16{netdevANAPIID, netdevANAPIDeferHardIRQs, netdevANAPIGROFlushTimeout}) {
		t.Errorf("without HasIRQSuspendTimeout: attributes %v, want id, defer-hard-irqs, gro-flush-timeout", ts)
	}
	n.HasIRQSuspendTimeout = true
	if ts, v := types(n); len(ts) != 4 || nlUint(v) != uint64(20*time.Millisecond) {
		t.Errorf("with HasIRQSuspendTimeout: attributes %v, irq-suspend-timeout %v", ts, v)
	}

	reply := func(attrs ...*nl.RtAttr) []byte {
		var b []byte
		for _, a := range attrs {
			b = append(b, a.Serialize()...)
		}
		return b
	}
	old := []*nl.RtAttr{
		nl.NewRtAttr(netdevANAPIIfindex, nl.Uint32Attr(5)),
		nl.NewRtAttr(netdevANAPIID, nl.Uint32Attr(9)),
		nl.NewRtAttr(netdevANAPIDeferHardIRQs, nl.Uint32Attr(2)),
		nl.NewRtAttr(netdevANAPIGROFlushTimeout, nl.Uint64Attr(200_000)),
	}
	want := NAPI{ID: 9, Ifindex: 5, DeferHardIRQs: 2, GROFlushTimeout: 200 * time.Microsecond}
	for _, tc := range []struct {
		name  string
		extra []*nl.RtAttr
		want  NAPI
	}{
		{"Linux < 6.13", nil, want},
		{"zero", []*nl.RtAttr{nl.NewRtAttr(netdevANAPIIRQSuspend, nl.Uint32Attr(0))},
			NAPI{ID: 9, Ifindex: 5, DeferHardIRQs: 2, GROFlushTimeout: 200 * time.Microsecond, HasIRQSuspendTimeout: true}},
		{"u64", []*nl.RtAttr{nl.NewRtAttr(netdevANAPIIRQSuspend, nl.Uint64Attr(uint64(5*time.Second)))},
			NAPI{ID: 9, Ifindex: 5, DeferHardIRQs: 2, GROFlushTimeout: 200 * time.Microsecond, IRQSuspendTimeout: 5 * time.Second, HasIRQSuspendTimeout: true}},
	} {
		got, err := parseNAPI(reply(append(slices.Clone(old), tc.extra...)...))
		if err != nil || got != tc.want {
			t.Errorf("%s: %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}
}

// TestNAPIIRQSuspend: on a veth end with GRO on and threaded NAPI (the
// bench rig's peer end), SetNAPI sets irq-suspend-timeout with the
// deferral and ListNAPI reads all three back; a NAPI without
// HasIRQSuspendTimeout leaves the kernel's value alone, and the values
// listed before go back as they were.
func TestNAPIIRQSuspend(t *testing.T) {
	b := testbed.New(t, testbed.Options{})
	h := b.Server
	if err := h.SetGRO(true); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// sysfs of the namespace: ip netns exec mounts its own.
	if _, err := h.Exec(ctx, "sh", "-c", "echo 1 > /sys/class/net/"+h.Link+"/threaded"); err != nil {
		t.Fatalf("threaded NAPI on %s: %v", h.Link, err)
	}
	list := func() []NAPI {
		t.Helper()
		var l []NAPI
		err := h.Do(func() (err error) { l, err = ListNAPI(h.Ifindex); return err })
		if errors.Is(err, ErrNoNAPISet) && !testbed.InCI() {
			t.Skipf("kernel without netdev napi-set: %v", err)
		}
		if err != nil {
			t.Fatalf("list NAPI of %s: %v", h.Link, err)
		}
		if len(l) == 0 {
			t.Fatalf("%s with GRO on lists no NAPI instance", h.Link)
		}
		return l
	}
	set := func(n NAPI) {
		t.Helper()
		if err := h.Do(func() error { return SetNAPI(n) }); err != nil {
			t.Fatalf("set %+v: %v", n, err)
		}
	}
	check := func(step string, want func(NAPI) NAPI) {
		t.Helper()
		for _, n := range list() {
			if w := want(n); n != w {
				t.Errorf("%s: %+v, want %+v", step, n, w)
			}
		}
	}

	before := list()
	for _, n := range before {
		if !n.HasIRQSuspendTimeout {
			if testbed.InCI() {
				t.Fatalf("napi %d lists no irq-suspend-timeout (Linux < 6.13; CI=true forbids skipping)", n.ID)
			}
			t.Skipf("napi %d lists no irq-suspend-timeout: kernel before 6.13", n.ID)
		}
	}
	for _, n := range before {
		set(NAPI{ID: n.ID, DeferHardIRQs: 3, GROFlushTimeout: 70 * time.Microsecond,
			IRQSuspendTimeout: 20 * time.Millisecond, HasIRQSuspendTimeout: true})
	}
	check("all three set", func(n NAPI) NAPI {
		return NAPI{ID: n.ID, Ifindex: h.Ifindex, DeferHardIRQs: 3, GROFlushTimeout: 70 * time.Microsecond,
			IRQSuspendTimeout: 20 * time.Millisecond, HasIRQSuspendTimeout: true}
	})
	for _, n := range before {
		set(NAPI{ID: n.ID, DeferHardIRQs: 4, GROFlushTimeout: 90 * time.Microsecond})
	}
	check("deferral only", func(n NAPI) NAPI {
		return NAPI{ID: n.ID, Ifindex: h.Ifindex, DeferHardIRQs: 4, GROFlushTimeout: 90 * time.Microsecond,
			IRQSuspendTimeout: 20 * time.Millisecond, HasIRQSuspendTimeout: true}
	})
	if err := h.Do(func() error { _, err := DeferNAPI(before, 5, 110*time.Microsecond); return err }); err != nil {
		t.Fatal(err)
	}
	check("DeferNAPI", func(n NAPI) NAPI {
		return NAPI{ID: n.ID, Ifindex: h.Ifindex, DeferHardIRQs: 5, GROFlushTimeout: 110 * time.Microsecond,
			IRQSuspendTimeout: 20 * time.Millisecond, HasIRQSuspendTimeout: true}
	})
	for _, n := range before {
		set(n)
	}
	if after := list(); !slices.Equal(after, before) {
		t.Errorf("after restore: %+v, want %+v", after, before)
	}
}
