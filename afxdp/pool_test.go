package afxdp

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// heapUmem is a Umem with only its config, enough for pool tests.
func heapUmem(frameSize, count uint32) *Umem {
	return &Umem{cfg: UmemConfig{FrameSize: frameSize, FrameCount: count}}
}

func TestPoolExhaustAndReturn(t *testing.T) {
	u := heapUmem(2048, 8)
	p := u.NewPool(2, 4) // frames 2..5
	seen := map[uint64]bool{}
	for range 4 {
		a, ok := p.Get()
		if !ok {
			t.Fatal("pool empty too early")
		}
		if a%2048 != 0 || a < 2*2048 || a > 5*2048 || seen[a] {
			t.Fatalf("bad or repeated address %d", a)
		}
		seen[a] = true
	}
	if _, ok := p.Get(); ok {
		t.Fatal("Get on an exhausted pool succeeded")
	}
	// A descriptor address inside a frame goes back as the frame start.
	if !p.Put(3*2048 + 256 + 14) {
		t.Fatal("Put into an empty pool failed")
	}
	if a, ok := p.Get(); !ok || a != 3*2048 {
		t.Fatalf("Get after Put = %d, %v; want %d", a, ok, 3*2048)
	}
	for a := range seen {
		p.Put(a)
	}
	if p.Put(0) {
		t.Fatal("Put into a full pool (double free) accepted")
	}
	dst := make([]uint64, 10)
	if n := p.GetN(dst); n != 4 || p.Len() != 0 {
		t.Fatalf("GetN = %d, Len %d", n, p.Len())
	}
	if got := u.NewPool(6, 100).Cap(); got != 2 {
		t.Fatalf("pool past the end of the UMEM has %d frames, want 2", got)
	}
}

func TestUmemConfigErrors(t *testing.T) {
	for _, c := range []UmemConfig{
		{FrameSize: 3000},
		{FrameSize: 2048, Headroom: 2000},
		{FillSize: 1000},
	} {
		if _, err := NewUmem(c); !errors.Is(err, ErrBadConfig) {
			t.Errorf("NewUmem(%+v) = %v, want ErrBadConfig", c, err)
		}
	}
}

func TestErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		errno unix.Errno
		want  error
		hint  string
	}{
		{unix.EAFNOSUPPORT, ErrNotSupported, "CONFIG_XDP_SOCKETS"},
		{unix.EPERM, ErrPermission, "CAP_NET_ADMIN+CAP_NET_RAW"},
		{unix.EBUSY, ErrBusy, "already bound"},
		{unix.EOPNOTSUPP, ErrNoXDPMode, "ModeCopy"},
		{enotsupp, ErrNoXDPMode, "ModeCopy"},
	} {
		err := opError("bind", 3, 1, tc.errno)
		if !errors.Is(err, tc.want) || !errors.Is(err, tc.errno) {
			t.Errorf("%v: errors.Is sentinel %v / errno: %v / %v", tc.errno, tc.want, errors.Is(err, tc.want), errors.Is(err, tc.errno))
		}
		if s := err.Error(); !strings.Contains(s, tc.hint) || !strings.Contains(s, "ifindex 3 queue 1") {
			t.Errorf("message %q lacks %q or the device", s, tc.hint)
		}
	}
	if err := opError("bind", 1, 0, unix.EINVAL); errors.Is(err, ErrBusy) || !errors.Is(err, unix.EINVAL) {
		t.Errorf("EINVAL mapped wrongly: %v", err)
	}
}

func BenchmarkPoolGetPut(b *testing.B) {
	p := heapUmem(2048, 4096).NewPool(0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		a, _ := p.Get()
		p.Put(a)
	}
}

func BenchmarkPoolGetNPut64(b *testing.B) {
	p := heapUmem(2048, 4096).NewPool(0, 4096)
	var batch [64]uint64
	b.ReportAllocs()
	for b.Loop() {
		n := p.GetN(batch[:])
		for _, a := range batch[:n] {
			p.Put(a)
		}
	}
}

// TestUmemHugePages: asking for huge pages either gets them or falls back
// to normal pages; the area is usable either way.
func TestUmemHugePages(t *testing.T) {
	u, err := NewUmem(UmemConfig{FrameSize: 4096, FrameCount: 16, HugePages: true})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	t.Logf("huge pages: %v", u.HugePages())
	f := u.Frame(15*4096, 4096)
	if len(f) != 4096 {
		t.Fatalf("last frame has %d bytes", len(f))
	}
	f[4095] = 1
	if u.Frame(15*4096, 4097) != nil || u.Frame(^uint64(0), 2) != nil {
		t.Fatal("Frame accepted a range outside the area")
	}
	if u.FrameBase(3*4096+300) != 3*4096 {
		t.Fatal("FrameBase")
	}
}

func TestFillFromDrainTo(t *testing.T) {
	u := heapUmem(2048, 16)
	p := u.NewPool(0, 16)
	f := newFakeFill(8, nearWrap)
	if n := f.FillFrom(p, 100); n != 8 || p.Len() != 8 {
		t.Fatalf("FillFrom = %d, pool left %d; want 8, 8", n, p.Len())
	}
	if n := f.FillFrom(p, 100); n != 0 {
		t.Fatalf("FillFrom on a full ring = %d", n)
	}
	// A completion ring the "kernel" has put 5 frames on.
	c := &CompletionRing{ring: fakeRing(8, nearWrap), addrs: make([]uint64, 8)}
	c.initConsumer()
	for i := range uint32(5) {
		c.addrs[(nearWrap+i)&c.mask] = uint64(i) * 2048
	}
	c.producer.Store(nearWrap + 5)
	if n := c.DrainTo(p, 3); n != 3 || p.Len() != 11 {
		t.Fatalf("DrainTo(3) = %d, pool %d", n, p.Len())
	}
	if n := c.DrainTo(p, 100); n != 2 || p.Len() != 13 || c.consumer.Load() != nearWrap+5 {
		t.Fatalf("DrainTo(100) = %d, pool %d, consumer %d", n, p.Len(), c.consumer.Load())
	}
}

func BenchmarkFillFromDrainTo(b *testing.B) {
	p := heapUmem(2048, 4096).NewPool(0, 4096)
	f := newFakeFill(2048, 0)
	c := &CompletionRing{ring: fakeRing(2048, 0), addrs: make([]uint64, 2048)}
	c.initConsumer()
	b.ReportAllocs()
	for b.Loop() {
		n := f.FillFrom(p, 64)
		// The "kernel" moves the frames from fill to completion.
		fi := f.consumer.Load()
		ci := c.producer.Load()
		for i := range n {
			c.addrs[(ci+i)&c.mask] = f.addrs[(fi+i)&f.mask]
		}
		f.consumer.Store(fi + n)
		c.producer.Store(ci + n)
		c.DrainTo(p, 64)
	}
}
