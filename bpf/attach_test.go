//go:build linux

package bpf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicenet/sluice/testbed"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// xdpState reads the device's XDP attachment over netlink, from inside
// its namespace.
func xdpState(t *testing.T, h *testbed.Host) netlink.LinkXdp {
	t.Helper()
	var x netlink.LinkXdp
	if err := h.Do(func() error {
		l, err := netlink.LinkByIndex(h.Ifindex)
		if err != nil {
			return err
		}
		if l.Attrs().Xdp != nil {
			x = *l.Attrs().Xdp
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return x
}

func progID(t *testing.T, p *Program) uint32 {
	t.Helper()
	id, err := p.ProgramID()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// loadIn loads (and attaches, if o.Ifindex is set) inside h's namespace,
// closing the program when the test ends.
func loadIn(t *testing.T, h *testbed.Host, o Options) (*Program, error) {
	t.Helper()
	var p *Program
	err := h.Do(func() (err error) {
		p, err = Load(o)
		return err
	})
	if p != nil {
		t.Cleanup(func() { p.Close() })
	}
	return p, err
}

func TestModes(t *testing.T) {
	bed := testbed.New(t, testbed.Options{})
	for _, c := range []struct {
		ask, want Mode
		attached  uint32
	}{
		{ModeNone, ModeDriver, xdpAttachedDrv}, // veth has native XDP
		{ModeDriver, ModeDriver, xdpAttachedDrv},
		{ModeGeneric, ModeGeneric, xdpAttachedSkb},
	} {
		p, err := loadIn(t, bed.Server, Options{Ifindex: bed.Server.Ifindex, Mode: c.ask})
		if err != nil {
			t.Fatalf("Load(Mode %v): %v", c.ask, err)
		}
		if p.Mode() != c.want || p.Ifindex() != bed.Server.Ifindex {
			t.Errorf("asked %v: Mode() = %v, Ifindex() = %d", c.ask, p.Mode(), p.Ifindex())
		}
		x := xdpState(t, bed.Server)
		if !x.Attached || x.AttachMode != c.attached || x.ProgId != progID(t, p) {
			t.Errorf("asked %v: netlink says %+v, want mode %d prog %d", c.ask, x, c.attached, progID(t, p))
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		if x := xdpState(t, bed.Server); x.Attached {
			t.Errorf("asked %v: still attached after Close: %+v", c.ask, x)
		}
	}
}

// TestCloseDetaches: after Close the device has no XDP program and the
// port the program steered reaches the kernel again.
func TestCloseDetaches(t *testing.T) {
	r := newRig(t, Options{})
	a := ap(r.bed.Server.IPv4, 7200)
	listen(t, r.bed.Server, a)
	if err := r.p.AddListen(a); err != nil {
		t.Fatal(err)
	}
	r.steeredSYN(t, ap(r.bed.Peer.IPv4, 42000), a)
	if err := r.p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if x := xdpState(t, r.bed.Server); x.Attached {
		t.Fatalf("still attached after Close: %+v", x)
	}
	if r.p.Mode() != ModeNone {
		t.Errorf("Mode() after Close = %v", r.p.Mode())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := dial(ctx, r.bed.Peer, ap(r.bed.Peer.IPv4, 42000), a); err != nil {
		t.Errorf("kernel listener after detach: %v", err)
	}
	if err := r.p.AddListen(a); !errors.Is(err, net.ErrClosed) {
		t.Errorf("AddListen after Close: %v, want net.ErrClosed", err)
	}
	if _, err := r.p.Counters(); err == nil {
		t.Error("Counters after Close: no error")
	}
}

// TestRefuseForeign: a program someone else attached (through a bpf_link,
// as sluice does, or through netlink, as `ip link set xdp` does) is named
// and left alone, unless Options.Replace.
func TestRefuseForeign(t *testing.T) {
	bed := testbed.New(t, testbed.Options{})
	ifx := bed.Server.Ifindex

	// Foreign bpf_link.
	a, err := loadIn(t, bed.Server, Options{Ifindex: ifx})
	if err != nil {
		t.Fatal(err)
	}
	_, err = loadIn(t, bed.Server, Options{Ifindex: ifx})
	if !errors.Is(err, ErrForeignProgram) || !strings.Contains(err.Error(), fmt.Sprintf("program id %d", progID(t, a))) {
		t.Fatalf("second Load: %v; want ErrForeignProgram naming id %d", err, progID(t, a))
	}
	t.Logf("refusal: %v", err)
	if x := xdpState(t, bed.Server); x.ProgId != progID(t, a) {
		t.Fatalf("refused Load changed the device: %+v", x)
	}
	b, err := loadIn(t, bed.Server, Options{Ifindex: ifx, Replace: true})
	if err != nil {
		t.Fatalf("Load with Replace over a bpf_link: %v", err)
	}
	if x := xdpState(t, bed.Server); x.ProgId != progID(t, b) {
		t.Fatalf("after Replace netlink says %+v, want prog %d", x, progID(t, b))
	}
	// The displaced owner closing its (detached) link must not touch b.
	if err := a.Close(); err != nil {
		t.Errorf("displaced program's Close: %v", err)
	}
	if x := xdpState(t, bed.Server); x.ProgId != progID(t, b) {
		t.Fatalf("displaced Close detached the new program: %+v", x)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	// Foreign netlink (legacy) attachment, generic mode.
	c, err := loadIn(t, bed.Server, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := bed.Server.Do(func() error {
		l, err := netlink.LinkByIndex(ifx)
		if err != nil {
			return err
		}
		return netlink.LinkSetXdpFdWithFlags(l, c.objs.SluiceSteer.FD(), unix.XDP_FLAGS_SKB_MODE)
	}); err != nil {
		t.Fatalf("netlink attach: %v", err)
	}
	_, err = loadIn(t, bed.Server, Options{Ifindex: ifx})
	if !errors.Is(err, ErrForeignProgram) || !strings.Contains(err.Error(), fmt.Sprintf("program id %d", progID(t, c))) {
		t.Fatalf("Load over a netlink attachment: %v", err)
	}
	d, err := loadIn(t, bed.Server, Options{Ifindex: ifx, Replace: true})
	if err != nil {
		t.Fatalf("Load with Replace over a netlink attachment: %v", err)
	}
	if x := xdpState(t, bed.Server); x.ProgId != progID(t, d) {
		t.Fatalf("after Replace netlink says %+v, want prog %d", x, progID(t, d))
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if x := xdpState(t, bed.Server); x.Attached {
		t.Errorf("attached after last Close: %+v", x)
	}
}

func TestAttachErrors(t *testing.T) {
	bed := testbed.New(t, testbed.Options{})
	// An ifindex that does not exist in the namespace.
	if _, err := loadIn(t, bed.Server, Options{Ifindex: 9999}); err == nil || !strings.Contains(err.Error(), "namespace") {
		t.Errorf("Load on ifindex 9999: %v", err)
	}
	// Loopback has no driver XDP: forcing driver mode fails, saying so.
	_, err := loadIn(t, bed.Server, Options{Ifindex: 1, Mode: ModeDriver})
	if err == nil || !strings.Contains(err.Error(), "cannot attach XDP to lo (ifindex 1) in driver mode") {
		t.Errorf("driver mode on lo: %v", err)
	}
	// ... and the automatic choice falls back to generic.
	p, err := loadIn(t, bed.Server, Options{Ifindex: 1})
	if err != nil {
		t.Fatalf("auto mode on lo: %v", err)
	}
	if p.Mode() != ModeGeneric {
		t.Errorf("lo: Mode() = %v, want generic (fallback)", p.Mode())
	}
	p.Close()
}

// TestNoFDLeak: Load, attach, use and Close leave no BPF fd behind.
// (TestMain's testbed.Main checks the whole run the same way.)
func TestNoFDLeak(t *testing.T) {
	bed := testbed.New(t, testbed.Options{})
	before := bpfFDs(t)
	for i := 0; i < 3; i++ {
		p, err := loadIn(t, bed.Server, Options{Ifindex: bed.Server.Ifindex})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.AddListen(ap(bed.Server.IPv4, 80)); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Counters(); err != nil {
			t.Fatal(err)
		}
		if n := bpfFDs(t); n <= before {
			t.Fatalf("loaded program holds no bpf fds (%d before, %d now): the check would see nothing", before, n)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if n := bpfFDs(t); n != before {
		t.Errorf("%d bpf fds before, %d after Close", before, n)
	}
}

func bpfFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && strings.HasPrefix(l, "anon_inode:bpf") {
			n++
		}
	}
	return n
}
