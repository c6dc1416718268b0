//go:build linux

package bpf

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/sluicenet/sluice/testbed"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TestProgramRunConfig reads the run configuration compiled into the
// program: priority 50, chain call on XDP_PASS only.
func TestProgramRunConfig(t *testing.T) {
	rc, err := ProgramRunConfig()
	if err != nil {
		t.Fatal(err)
	}
	if rc != (RunConfig{Priority: 50, ChainCall: 1 << xdpPass}) {
		t.Fatalf("run config %+v", rc)
	}
}

// TestDispatcherFormat: a dispatcher sluice builds (here with no
// component: that needs no extension program) is one libxdp recognizes as
// a multi-program dispatcher, sluice reads it back, and xdp-loader can
// remove it.
func TestDispatcherFormat(t *testing.T) {
	loader := xdpLoaderPath(t)
	privateBPFFS(t)
	bed := testbed.New(t, testbed.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var state string
	if err := bed.Server.Do(func() error {
		l, err := netlink.LinkByIndex(bed.Server.Ifindex)
		if err != nil {
			return err
		}
		if state, err = bpffsXDP(); err != nil {
			return err
		}
		unlock, err := lockXDP(state)
		if err != nil {
			return err
		}
		defer unlock()
		d, err := install(l, state, nil, nil, []Mode{ModeDriver}, nil)
		if err != nil {
			return err
		}
		if l, err = netlink.LinkByIndex(bed.Server.Ifindex); err != nil {
			return err
		}
		back, err := readDispatcher(l, state)
		if err != nil {
			return err
		}
		if back == nil || back.id != d.id || back.mode != ModeDriver || len(back.comps) != 0 || back.dir != d.dir {
			t.Errorf("read back %+v, built %+v", back, d)
		}
		back.close()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	out, err := bed.Server.Exec(ctx, loader, "status", "-vv", bed.Server.Link)
	if err != nil || !strings.Contains(out, "Found multiprog with id") {
		t.Fatalf("libxdp does not take sluice's dispatcher for one (%v):\n%s", err, out)
	}
	if out, err := bed.Server.Exec(ctx, loader, "unload", "--all", bed.Server.Link); err != nil {
		t.Fatalf("xdp-loader unload: %v\n%s", err, out)
	}
	if x := xdpState(t, bed.Server); x.Attached {
		t.Errorf("program id %d still attached after xdp-loader unload", x.ProgId)
	}
	if left, _ := filepath.Glob(filepath.Join(state, "dispatch-*")); len(left) != 0 {
		t.Errorf("pins left: %v", left)
	}
}

func xdpLoaderPath(t *testing.T) string {
	t.Helper()
	loader, err := exec.LookPath("xdp-loader")
	if err != nil {
		if testbed.InCI() {
			t.Fatal("xdp-loader not installed (apt-get install xdp-tools)")
		}
		t.Skip("xdp-loader not installed (apt-get install xdp-tools)")
	}
	return loader
}

// TestDispatcherBesideXDPLoader runs sluice's program in a libxdp
// dispatcher beside a program xdp-loader loads (testdata/xdp_count.o,
// priority 10, which counts and passes), in both orders: xdp-loader's
// status lists both, a SYN to the listened port reaches the AF_XDP socket
// after the counter saw it, ping still gets through both to the kernel, and
// when sluice closes the other program stays and keeps working.
//
// A kernel that refuses extension programs (BPF trampolines; lockdown or an
// LSM policy) cannot run any dispatcher's components: there Load must fail
// with ErrExtensionRefused and leave the device and bpffs as they were.
func TestDispatcherBesideXDPLoader(t *testing.T) {
	loader := xdpLoaderPath(t)
	if refused(t) {
		return
	}
	for _, sluiceFirst := range []bool{false, true} {
		name := "xdp-loader first"
		if sluiceFirst {
			name = "sluice first"
		}
		t.Run(name, func(t *testing.T) { dispatcherBeside(t, loader, sluiceFirst) })
	}
}

func dispatcherBeside(t *testing.T, loader string, sluiceFirst bool) {
	privateBPFFS(t)
	bed := testbed.New(t, testbed.Options{})
	srv := ap(bed.Server.IPv4, 7700)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dev := bed.Server.Link
	xdpLoader := func(args ...string) string {
		t.Helper()
		out, err := bed.Server.Exec(ctx, loader, args...)
		if err != nil {
			t.Fatalf("xdp-loader %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	// Whatever the test leaves, the namespace's removal detaches; the
	// pins in the host's bpffs need unloading.
	t.Cleanup(func() { bed.Server.Exec(context.Background(), loader, "unload", "--all", dev) })

	var p *Program
	var xsk *testXSK
	closeAtEnd(t, &p, &xsk)
	loadSluice := func() {
		if err := bed.Server.Do(func() (err error) {
			if p, err = Load(Options{Ifindex: bed.Server.Ifindex, Dispatcher: true}); err != nil {
				return err
			}
			if xsk, err = newTestXSK(bed.Server.Ifindex, 0); err != nil {
				return err
			}
			if err := p.SetSocket(0, xsk.fd); err != nil {
				return err
			}
			return p.AddListen(srv)
		}); err != nil {
			t.Fatal(err)
		}
	}
	if sluiceFirst {
		loadSluice()
	}
	xdpLoader("load", "-m", "native", dev, "testdata/xdp_count.o")
	if !sluiceFirst {
		loadSluice()
	}
	if m := p.Mode(); m != ModeDriver {
		t.Errorf("mode %v, want driver (the veth takes native XDP)", m)
	}
	status := xdpLoader("status", dev)
	for _, want := range []string{"xdp_dispatcher", "xdp_count", "sluice_steer"} {
		if !strings.Contains(status, want) {
			t.Errorf("xdp-loader status lacks %s:\n%s", want, status)
		}
	}
	if i, j := strings.Index(status, "xdp_count"), strings.Index(status, "sluice_steer"); i > j {
		t.Errorf("xdp_count (priority 10) listed after sluice_steer (50):\n%s", status)
	}

	count := countMap(t, bed.Server)
	defer count.Close()
	seen := func(k uint32) uint64 {
		var n uint64
		if err := count.Lookup(k, &n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	icmp0, tcp0 := seen(0), seen(1)
	if _, err := bed.Peer.Exec(ctx, "ping", "-c", "1", "-W", "2", bed.Server.IPv4.String()); err != nil {
		t.Fatalf("ping through both programs: %v", err)
	}
	dctx, dcancel := context.WithTimeout(ctx, 3*time.Second)
	defer dcancel()
	go dial(dctx, bed.Peer, ap(bed.Peer.IPv4, 43100), srv)
	var got bool
	for try := 0; try < 200 && !got; try++ {
		for _, f := range xsk.Receive() {
			if sport, ok := tcpSrc(f); ok && sport == 43100 {
				got = true
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	dcancel()
	if !got {
		t.Fatalf("the SYN to %v did not reach sluice's socket", srv)
	}
	if seen(0) == icmp0 || seen(1) == tcp0 {
		t.Errorf("the other program saw %d ICMP and %d TCP frames more: it did not run", seen(0)-icmp0, seen(1)-tcp0)
	}
	c := counters(t, p)
	if c.Redirected == 0 {
		t.Errorf("sluice redirected nothing: %+v", c)
	}

	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	status = xdpLoader("status", dev)
	if strings.Contains(status, "sluice_steer") || !strings.Contains(status, "xdp_count") {
		t.Errorf("after Close:\n%s", status)
	}
	icmp0 = seen(0)
	if _, err := bed.Peer.Exec(ctx, "ping", "-c", "1", "-W", "2", bed.Server.IPv4.String()); err != nil {
		t.Fatalf("ping after sluice left: %v", err)
	}
	if seen(0) == icmp0 {
		t.Error("the other program stopped running when sluice left")
	}
}

// countMap finds the map of testdata/xdp_count.o through the dispatcher
// on the Server's device.
func countMap(t *testing.T, h *testbed.Host) *ebpf.Map {
	t.Helper()
	var m *ebpf.Map
	if err := h.Do(func() error {
		l, err := netlink.LinkByIndex(h.Ifindex)
		if err != nil {
			return err
		}
		state, err := bpffsXDP()
		if err != nil {
			return err
		}
		d, err := readDispatcher(l, state)
		if err != nil {
			return err
		}
		if d == nil {
			return errors.New("no dispatcher on the device")
		}
		defer d.close()
		for _, c := range d.comps {
			if c.name != "xdp_count" {
				continue
			}
			info, err := c.prog.Info()
			if err != nil {
				return err
			}
			ids, _ := info.MapIDs()
			if len(ids) != 1 {
				return errors.New("xdp_count has no single map")
			}
			m, err = ebpf.NewMapFromID(ids[0])
			return err
		}
		return errors.New("xdp_count is not in the dispatcher")
	}); err != nil {
		t.Fatal(err)
	}
	return m
}

// privateBPFFS mounts a BPF filesystem of the test's own and points libxdp
// (xdp-loader) and sluice at it (LIBXDP_BPFFS): the host may have none at
// /sys/fs/bpf, and `ip netns exec` remounts /sys anyway. Its mount is
// copied into the mount namespaces `ip netns exec` makes, so both see the
// same pins. Unmounting drops the pins.
func privateBPFFS(t *testing.T) {
	dir := t.TempDir()
	if err := unix.Mount("bpf", dir, "bpf", 0, "mode=0700"); err != nil {
		t.Fatalf("mount bpffs on %s: %v", dir, err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	t.Setenv("LIBXDP_BPFFS", dir)
}

// refused tries to load sluice as a component on a fresh bed and reports
// whether the kernel refused its extension program, checking that the
// refusal left nothing behind.
func refused(t *testing.T) bool {
	privateBPFFS(t)
	bed := testbed.New(t, testbed.Options{})
	var p *Program
	err := bed.Server.Do(func() (err error) {
		p, err = Load(Options{Ifindex: bed.Server.Ifindex, Dispatcher: true})
		return err
	})
	if err == nil {
		p.Close()
		return false
	}
	if !errors.Is(err, ErrExtensionRefused) {
		t.Fatal(err)
	}
	if x := xdpState(t, bed.Server); x.Attached {
		t.Errorf("a refused Load left program id %d attached", x.ProgId)
	}
	state, _ := bpffsXDP()
	if left, _ := filepath.Glob(filepath.Join(state, "dispatch-*")); len(left) != 0 {
		t.Errorf("a refused Load left pins: %v", left)
	}
	t.Logf("this kernel refuses extension programs; only the refusal is tested: %v", err)
	return true
}

// TestSortComponents: libxdp's run order: priority, then name, then the
// programs already in the dispatcher before a new one.
func TestSortComponents(t *testing.T) {
	c := func(name string, prio uint32, ours bool) *component {
		return &component{name: name, rc: RunConfig{Priority: prio}, ours: ours}
	}
	comps := []*component{c("sluice_steer", 50, true), c("xdp_filter", 10, false), c("zz", 50, false), c("aa", 50, false), c("sluice_steer", 50, false), c("late", 90, false)}
	sortComponents(comps)
	var got []string
	for _, x := range comps {
		n := x.name
		if x.ours {
			n += "(new)"
		}
		got = append(got, n)
	}
	if want := "xdp_filter aa sluice_steer sluice_steer(new) zz late"; strings.Join(got, " ") != want {
		t.Fatalf("order %q, want %q", strings.Join(got, " "), want)
	}
}
