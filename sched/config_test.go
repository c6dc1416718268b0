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

// TestRingDefaults: the fill and RX rings default to half the UMEM's
// frames (a power of two), so a quarter stays in the pool for TX and the
// RX ring can hold every frame the fill ring gave the kernel; explicit
// sizes are kept.
func TestRingDefaults(t *testing.T) {
	for _, tc := range []struct {
		frames, fill, rx, wantFill, wantRx uint32
	}{
		{0, 0, 0, 4096, 4096},       // the default: 8192 frames
		{4096, 0, 0, 2048, 2048},    // sluice.Config's default frame count
		{6000, 0, 0, 2048, 2048},    // not a power of two: round down
		{64, 0, 0, 32, 32},          // the smallest loop
		{8192, 1024, 0, 1024, 1024}, // RX follows an explicit fill ring
		{8192, 0, 512, 4096, 512},   // an explicit RX ring is kept
		{16384, 8192, 8192, 8192, 8192},
	} {
		c := LoopConfig{Umem: afxdp.UmemConfig{FrameCount: tc.frames, FillSize: tc.fill}, Socket: afxdp.SocketConfig{RxSize: tc.rx}}
		if err := c.defaults(); err != nil {
			t.Fatalf("%d frames: %v", tc.frames, err)
		}
		if c.Umem.FillSize != tc.wantFill || c.Socket.RxSize != tc.wantRx {
			t.Errorf("%d frames (fill %d, rx %d): fill ring %d, RX ring %d; want %d, %d",
				c.Umem.FrameCount, tc.fill, tc.rx, c.Umem.FillSize, c.Socket.RxSize, tc.wantFill, tc.wantRx)
		}
	}
}
