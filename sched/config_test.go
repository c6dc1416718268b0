package sched

import (
	"net/netip"
	"testing"

	"github.com/sluicenet/sluice/afxdp"
	"github.com/sluicenet/sluice/tcp"
)

// TestStartRejectsBadConfig: configuration problems fail fast, before
// anything is attached, with an error that says what to do.
func TestStartRejectsBadConfig(t *testing.T) {
	h := &rawEcho{}
	ap := []netip.AddrPort{pipeServer}
	for name, cfg := range map[string]GroupConfig{
		"no handler":    {Listen: ap},
		"no device":     {Handler: h},
		"bad core":      {Handler: h, Listen: ap, Cores: []int{1023}},
		"negative core": {Handler: h, Listen: ap, Cores: []int{0, -1}},
	} {
		if g, err := Start(cfg); err == nil {
			g.Close()
			t.Errorf("%s: Start succeeded", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	u, err := afxdp.NewUmem(afxdp.UmemConfig{FrameSize: 2048, FrameCount: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	cfg := tcp.DefaultConfig()
	cfg.MSS = 4000
	cfg.SendBuffer, cfg.RecvBuffer = 8000, 8000
	if _, err := NewLoop(LoopConfig{TCP: &cfg}, h, 0, u, nil); err == nil {
		t.Error("NewLoop accepted an MSS larger than the UMEM frame")
	}
}

// TestFamilyConfigOwnsPools: each loop's Config gets its own chunk pool
// and range free list (single-threaded, no lock), never the shared
// Config's.
func TestFamilyConfigOwnsPools(t *testing.T) {
	base := tcp.DefaultConfig()
	a, b := familyConfig(&base, 1500, false), familyConfig(&base, 1500, false)
	if a.Pool == nil || a.Ranges == nil {
		t.Fatalf("loop config without its own pools: Pool %v, Ranges %v", a.Pool, a.Ranges)
	}
	if a.Pool == b.Pool || a.Ranges == b.Ranges || base.Ranges != nil {
		t.Errorf("loop configs share pools: %p/%p, %p/%p (base %p)", a.Pool, b.Pool, a.Ranges, b.Ranges, base.Ranges)
	}
}
