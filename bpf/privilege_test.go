//go:build linux

package bpf

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicenet/sluice/testbed"
)

const unprivEnv = "SLUICE_BPF_UNPRIV_IFINDEX"

// TestUnprivilegedHelper is not a test on its own: TestPrivilegeErrors runs
// this binary as nobody with it selected, to see the errors Load gives
// without privileges.
func TestUnprivilegedHelper(t *testing.T) {
	v := os.Getenv(unprivEnv)
	if v == "" {
		return
	}
	ifindex, _ := strconv.Atoi(v)
	p, err := Load(Options{Ifindex: ifindex})
	if err == nil {
		p.Close()
		fmt.Println("RESULT: ok")
		return
	}
	fmt.Println("RESULT:", err)
}

// TestPrivilegeErrors: Load's permission errors name the capabilities the
// process lacks (the XSKMAP needs CAP_NET_ADMIN even to be created).
// Runs as uid nobody (setpriv) inside the testbed's server namespace.
func TestPrivilegeErrors(t *testing.T) {
	bed := testbed.New(t, testbed.Options{})
	// A copy of this test binary nobody can execute.
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	bin := filepath.Join(dir, "bpf.test")
	src, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	dst.Close()

	for _, c := range []struct {
		name string
		caps []string // setpriv capability arguments
		want string
	}{
		{"no capabilities", nil, "missing CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN:"},
		{"CAP_BPF only", []string{"--inh-caps=+bpf,+perfmon", "--ambient-caps=+bpf,+perfmon"}, "missing CAP_NET_ADMIN:"},
		{"CAP_NET_ADMIN only", []string{"--inh-caps=+net_admin", "--ambient-caps=+net_admin"}, "missing CAP_BPF and CAP_PERFMON:"},
		{"no CAP_PERFMON", []string{"--inh-caps=+bpf,+net_admin", "--ambient-caps=+bpf,+net_admin"}, "missing CAP_PERFMON:"},
		{"CAP_BPF and CAP_NET_ADMIN", []string{"--inh-caps=+bpf,+perfmon,+net_admin", "--ambient-caps=+bpf,+perfmon,+net_admin"}, "ok"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		args := append([]string{"--reuid=65534", "--regid=65534", "--clear-groups"}, c.caps...)
		args = append(args, bin, "-test.run=^TestUnprivilegedHelper$", "-test.count=1")
		cmd := bed.Server.Command(ctx, "setpriv", args...)
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", unprivEnv, bed.Server.Ifindex), "CI=")
		out, _ := cmd.CombinedOutput()
		cancel()
		var result string
		for _, l := range strings.Split(string(out), "\n") {
			if r, ok := strings.CutPrefix(l, "RESULT: "); ok {
				result = r
			}
		}
		if !strings.Contains(result, c.want) {
			t.Errorf("%s: Load said %q, want it to contain %q\n%s", c.name, result, c.want, out)
		} else {
			t.Logf("%s: %s", c.name, result)
		}
	}
}
