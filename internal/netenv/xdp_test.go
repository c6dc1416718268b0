package netenv

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/sluicenet/sluice/testbed"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TestDescribeXDP: Describe reports the XDP program attached to the device
// and its mode (here a two-instruction XDP_PASS program, generic mode).
func TestDescribeXDP(t *testing.T) {
	bed := testbed.New(t, testbed.Options{})
	srv := bed.Server
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "netenv_pass", Type: ebpf.XDP, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2 /* XDP_PASS */), asm.Return()},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	info, err := prog.Info()
	if err != nil {
		t.Fatal(err)
	}
	id, ok := info.ID()
	if !ok {
		t.Fatal("program id not available")
	}
	err = srv.Do(func() error {
		l, err := netlink.LinkByName(srv.Link)
		if err != nil {
			return err
		}
		if err := netlink.LinkSetXdpFdWithFlags(l, prog.FD(), unix.XDP_FLAGS_SKB_MODE); err != nil {
			return fmt.Errorf("attach: %w", err)
		}
		defer netlink.LinkSetXdpFdWithFlags(l, -1, unix.XDP_FLAGS_SKB_MODE)
		d, err := Describe(srv.Link)
		if err != nil {
			return err
		}
		t.Log(d)
		if d.XDPProgID != uint32(id) || d.XDPMode != "generic" {
			t.Errorf("Describe: xdp prog %d mode %q, want %d generic", d.XDPProgID, d.XDPMode, id)
		}
		if want := fmt.Sprintf("xdp prog %d (generic)", id); !strings.Contains(d.String(), want) {
			t.Errorf("%q lacks %q", d, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
