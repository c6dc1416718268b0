package sched

import (
	"context"
	"errors"
	"net/netip"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sluicenet/sluice/bpf"
	"github.com/sluicenet/sluice/testbed"
)

// TestGroupDispatcher: GroupConfig.XDPDispatcher and XDPRunPriority reach
// bpf.Load: the group's program runs as a component of a libxdp
// dispatcher (pinned in bpffs, listed by xdp-loader at the priority
// asked for), and a connection to a listened address is served through
// it. A kernel that refuses extension programs must refuse with
// bpf.ErrExtensionRefused.
func TestGroupDispatcher(t *testing.T) {
	loader, err := exec.LookPath("xdp-loader")
	if err != nil {
		if testbed.InCI() {
			t.Fatal("xdp-loader not installed (apt-get install xdp-tools)")
		}
		t.Skip("xdp-loader not installed (apt-get install xdp-tools)")
	}
	bpffs := t.TempDir()
	if err := unix.Mount("bpf", bpffs, "bpf", 0, "mode=0700"); err != nil {
		t.Fatalf("mount bpffs on %s: %v", bpffs, err)
	}
	t.Cleanup(func() { unix.Unmount(bpffs, unix.MNT_DETACH) })
	t.Setenv("LIBXDP_BPFFS", bpffs)

	b := testbed.New(t, testbed.Options{})
	const prio = 23
	ap := netip.AddrPortFrom(b.Server.IPv4, echoPort)
	g, err := Start(GroupConfig{
		Ifindex:        b.Server.Ifindex,
		Cores:          []int{-1},
		Listen:         []netip.AddrPort{ap},
		Handler:        newEchoHandler(),
		Setup:          b.Server.Do,
		XDPDispatcher:  true,
		XDPRunPriority: prio,
	})
	if errors.Is(err, bpf.ErrExtensionRefused) {
		t.Logf("this kernel refuses extension programs; only the refusal is tested: %v", err)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if pins, _ := filepath.Glob(filepath.Join(bpffs, "xdp", "dispatch-"+strconv.Itoa(b.Server.Ifindex)+"-*")); len(pins) != 1 {
		t.Errorf("dispatcher pins under %s/xdp: %v, want one", bpffs, pins)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	status, err := b.Server.Exec(ctx, loader, "status", b.Server.Link)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^\s*=>\s+` + strconv.Itoa(prio) + `\s+sluice_steer\b`).MatchString(status) {
		t.Errorf("xdp-loader status does not list sluice_steer at priority %d:\n%s", prio, status)
	}
	c := b.Peer.Dial(t, ap.String())
	c.Close()
	testbed.WaitFor(t, "the connection to be established", func() bool {
		gs, err := g.Stats()
		return err == nil && gs.Loops[0].Established == 1
	})
}
