package sluice

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicenet/sluice/afxdp"
	"github.com/sluicenet/sluice/testbed"
)

// napiOf lists the NAPI instances of h's link.
func napiOf(t *testing.T, h *testbed.Host) []afxdp.NAPI {
	t.Helper()
	var l []afxdp.NAPI
	err := h.Do(func() (err error) { l, err = afxdp.ListNAPI(h.Ifindex); return err })
	if errors.Is(err, afxdp.ErrNoNAPISet) && !testbed.InCI() {
		t.Skipf("kernel without netdev napi-set: %v", err)
	}
	if err != nil {
		t.Fatalf("list NAPI of %s: %v", h.Link, err)
	}
	return l
}

// TestNAPIDeferral: the server sets the NAPI deferral on its link's
// instances while it runs (the defaults, or Config's values), data flows
// both ways under it, and Close puts back what the instances had; -1
// leaves them alone. With GRO on first (the bench rig's order) the
// instance outlives the program, so the restore is checked against
// values set before Start; without GRO the instance comes and goes with
// the program.
func TestNAPIDeferral(t *testing.T) {
	for _, tc := range []struct {
		name      string
		gro       bool
		deferIRQs int
		flush     time.Duration
		want      afxdp.NAPI // while serving, with GRO: else before's
	}{
		{"gro first", true, 3, 70 * time.Microsecond, afxdp.NAPI{DeferHardIRQs: 3, GROFlushTimeout: 70 * time.Microsecond}},
		{"defaults", true, 0, 0, afxdp.NAPI{DeferHardIRQs: DefaultNAPIDeferHardIRQs, GROFlushTimeout: DefaultNAPIFlushTimeout}},
		{"off", true, -1, 0, afxdp.NAPI{DeferHardIRQs: 1, GROFlushTimeout: 7 * time.Microsecond}},
		{"xdp only", false, 3, 70 * time.Microsecond, afxdp.NAPI{DeferHardIRQs: 3, GROFlushTimeout: 70 * time.Microsecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bed := newBed(t, 1)
			h := bed.Server
			var before []afxdp.NAPI
			if tc.gro {
				if err := h.SetGRO(true); err != nil {
					t.Fatal(err)
				}
				before = napiOf(t, h)
				if len(before) == 0 {
					t.Fatalf("%s with GRO on lists no NAPI instance", h.Link)
				}
				for i := range before {
					before[i].DeferHardIRQs, before[i].GROFlushTimeout = 1, 7*time.Microsecond
					if err := h.Do(func() error { return afxdp.SetNAPI(before[i]) }); err != nil {
						t.Fatal(err)
					}
				}
			} else if l := napiOf(t, h); len(l) != 0 {
				t.Fatalf("%s without GRO or XDP lists NAPI %+v", h.Link, l)
			}
			cfg := testConfig(bed, 7000)
			cfg.NAPIDeferHardIRQs, cfg.NAPIFlushTimeout = tc.deferIRQs, tc.flush
			s := startServer(t, cfg, &echo{})
			during := napiOf(t, h)
			if len(during) == 0 {
				t.Fatalf("no NAPI instance on %s while serving", h.Link)
			}
			for _, n := range during {
				if n.DeferHardIRQs != tc.want.DeferHardIRQs || n.GROFlushTimeout != tc.want.GROFlushTimeout {
					t.Errorf("while serving: %+v, want defer %d, flush %v", n, tc.want.DeferHardIRQs, tc.want.GROFlushTimeout)
				}
			}
			for i, a := range []string{testbed.HostPort(h.IPv4, 7000), testbed.HostPort(h.IPv6, 7000)} {
				c := bed.Peer.Dial(t, a)
				roundTrip(t, c, pattern(300_000+i))
				c.Close()
			}
			if err := s.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
			after := napiOf(t, h)
			if tc.gro && !slices.Equal(after, before) {
				t.Errorf("after Close: %+v, want %+v as before Start", after, before)
			}
			if !tc.gro && len(after) != 0 {
				t.Errorf("after Close without GRO: %+v, want no instance (veth drops it with the program)", after)
			}
		})
	}
}

// TestNAPIDeferralConfig: out-of-range deferrals are refused by name.
func TestNAPIDeferralConfig(t *testing.T) {
	for _, tc := range []struct {
		c     Config
		field string
	}{
		{Config{NAPIDeferHardIRQs: -2}, "NAPIDeferHardIRQs"},
		{Config{NAPIDeferHardIRQs: 1 << 31}, "NAPIDeferHardIRQs"},
		{Config{NAPIDeferHardIRQs: 2, NAPIFlushTimeout: -time.Microsecond}, "NAPIFlushTimeout"},
	} {
		c := tc.c
		c.Interface, c.Listen = "lo", []string{"127.0.0.1:80"}
		var ce *ConfigError
		if err := c.Validate(); !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("defer %d flush %v: %v, want a ConfigError on %s", c.NAPIDeferHardIRQs, c.NAPIFlushTimeout, err, tc.field)
		}
	}
}

// TestNAPIDeferralNamespaceGone: a server whose namespace was removed
// before Close has nothing to restore, and Close says nothing of it.
func TestNAPIDeferralNamespaceGone(t *testing.T) {
	testbed.Require(t)
	bed, err := testbed.Create(testbed.Options{Queues: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer bed.Close()
	cfg := testConfig(bed, 7000)
	s, err := NewServer(cfg, &echo{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := bed.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil && strings.Contains(err.Error(), "NAPI") {
		t.Fatalf("close after the namespace went: %v", err)
	}
}
