package netenv

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicenet/sluice/testbed"
	"golang.org/x/sys/unix"
)

const childEnv = "SLUICE_NETENV_CHILD"

// runChild is the body of the test binary when a test re-executes it with
// reduced privileges: it runs Preflight in the namespace it was started
// in and prints the result. It reports whether it ran.
func runChild() bool {
	ifname := os.Getenv(childEnv)
	if ifname == "" {
		return false
	}
	if dst := os.Getenv(childEnv + "_RESOLVE"); dst != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		h, err := Resolve(ctx, netip.MustParseAddr(dst), RouteOptions{Ifname: ifname})
		if err != nil {
			fmt.Println("RESULT:", err)
		} else {
			fmt.Println("RESULT: mac", h.MAC)
		}
		cancel()
		os.Exit(0)
	}
	umem, _ := strconv.ParseInt(os.Getenv(childEnv+"_UMEM"), 10, 64)
	err := Preflight(Spec{Interface: ifname, Listen: []netip.AddrPort{netip.MustParseAddrPort("198.18.0.1:8080")}, UMEMBytes: umem})
	if err == nil {
		fmt.Println("RESULT: ok")
	} else {
		fmt.Println("RESULT:", strings.ReplaceAll(err.Error(), "\n", " | "))
	}
	os.Exit(0)
	return true
}

// TestPrivileges re-runs this binary inside the server namespace as root
// whose capability bounding set setpriv has cut (a root process gets its
// bounding set as permitted and effective capabilities at exec), and
// checks what Preflight says.
func TestPrivileges(t *testing.T) {
	bed := testbed.New(t, testbed.Options{})
	for _, c := range []struct {
		name   string
		keep   string // capabilities left in the bounding set
		umem   int64
		limit  string // prlimit --memlock value, "" for none
		want   []string
		absent []string
	}{
		{"no capabilities", "", 0, "", []string{"missing capabilities CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF, CAP_PERFMON", "run as root", "setcap cap_net_admin,cap_net_raw,cap_bpf,cap_perfmon+ep", "AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW CAP_BPF CAP_PERFMON"}, nil},
		{"no CAP_BPF", "+net_admin,+net_raw,+perfmon", 0, "", []string{"missing capabilities CAP_BPF (needs CAP_BPF to load"}, []string{"CAP_NET_RAW,", "CAP_PERFMON,"}},
		{"no CAP_PERFMON", "+net_admin,+net_raw,+bpf", 0, "", []string{"missing capabilities CAP_PERFMON (needs CAP_PERFMON to pass the verifier"}, nil},
		{"no CAP_NET_RAW", "+net_admin,+bpf,+perfmon", 0, "", []string{"missing capabilities CAP_NET_RAW (needs CAP_NET_RAW to open AF_XDP sockets)"}, nil},
		{"CAP_SYS_ADMIN stands in for CAP_BPF and CAP_PERFMON", "+net_admin,+net_raw,+sys_admin", 0, "", []string{"ok"}, nil},
		{"all", "+net_admin,+net_raw,+bpf,+perfmon", 0, "", []string{"ok"}, nil},
		{"memlock too small", "+net_admin,+net_raw,+bpf,+perfmon", 1 << 30, "65536", []string{"locked-memory limit 65536 bytes is below the 1073741824 bytes of UMEM", "CAP_IPC_LOCK"}, nil},
		{"CAP_IPC_LOCK lifts memlock", "+net_admin,+net_raw,+bpf,+perfmon,+ipc_lock", 1 << 30, "65536", []string{"ok"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			bounding := "-all"
			if c.keep != "" {
				bounding += "," + c.keep
			}
			args := []string{"--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=" + bounding, os.Args[0]}
			var cmd *exec.Cmd
			if c.limit != "" {
				cmd = bed.Server.Command(ctx, "prlimit", append([]string{"--memlock=" + c.limit + ":" + c.limit, "setpriv"}, args...)...)
			} else {
				cmd = bed.Server.Command(ctx, "setpriv", args...)
			}
			cmd.Env = append(os.Environ(), childEnv+"="+bed.Server.Link, fmt.Sprintf("%s_UMEM=%d", childEnv, c.umem))
			out, err := cmd.CombinedOutput()
			var result string
			for _, l := range strings.Split(string(out), "\n") {
				if r, ok := strings.CutPrefix(l, "RESULT: "); ok {
					result = r
				}
			}
			if result == "" {
				t.Fatalf("child gave no result (%v):\n%s", err, out)
			}
			t.Log(result)
			for _, w := range c.want {
				if !strings.Contains(result, w) {
					t.Errorf("result %q lacks %q", result, w)
				}
			}
			for _, w := range c.absent {
				if strings.Contains(result, w) {
					t.Errorf("result %q contains %q", result, w)
				}
			}
		})
	}
}

// TestResolveUnprivileged: without CAP_NET_ADMIN (no NTF_USE), Resolve
// still makes the kernel resolve, through a datagram.
func TestResolveUnprivileged(t *testing.T) {
	bed := testbed.New(t, testbed.Options{})
	srv, peer := bed.Server, bed.Peer
	for _, dst := range []netip.Addr{peer.IPv4, peer.IPv6} {
		if err := srv.Do(func() error { return flushNeigh(srv.Ifindex, dst) }); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := srv.Command(ctx, "setpriv", "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all", os.Args[0])
		cmd.Env = append(os.Environ(), childEnv+"="+srv.Link, childEnv+"_RESOLVE="+dst.String())
		out, err := cmd.CombinedOutput()
		cancel()
		if want := "RESULT: mac " + peer.MAC.String(); !strings.Contains(string(out), want) {
			t.Errorf("%s: want %q (%v):\n%s", dst, want, err, out)
		}
	}
}

// TestMissingSet: the capability arithmetic on its own.
func TestMissingSet(t *testing.T) {
	bit := func(cs ...uint) (m uint64) {
		for _, c := range cs {
			m |= 1 << c
		}
		return m
	}
	for _, c := range []struct {
		eff  uint64
		want string
	}{
		{0, "CAP_NET_ADMIN CAP_NET_RAW CAP_BPF CAP_PERFMON"},
		{bit(unix.CAP_NET_ADMIN, unix.CAP_NET_RAW, unix.CAP_BPF, unix.CAP_PERFMON), ""},
		{bit(unix.CAP_NET_ADMIN, unix.CAP_NET_RAW, unix.CAP_BPF), "CAP_PERFMON"},
		{bit(unix.CAP_NET_ADMIN, unix.CAP_NET_RAW, unix.CAP_SYS_ADMIN), ""},
		{bit(unix.CAP_NET_RAW, unix.CAP_SYS_ADMIN), "CAP_NET_ADMIN"},
		{bit(unix.CAP_PERFMON, unix.CAP_NET_ADMIN), "CAP_NET_RAW CAP_BPF"},
	} {
		if got := strings.Join(missing(c.eff), " "); got != c.want {
			t.Errorf("missing(%#x) = %q, want %q", c.eff, got, c.want)
		}
	}
}
