//go:build linux

package bpf

import (
	"context"
	"fmt"
	"os"
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
	for _, c := range []struct {
		name string
		caps []string // setpriv capability names
		want string
	}{
		{"no capabilities", nil, "missing CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN:"},
		{"CAP_BPF only", []string{"bpf", "perfmon"}, "missing CAP_NET_ADMIN:"},
		{"CAP_NET_ADMIN only", []string{"net_admin"}, "missing CAP_BPF and CAP_PERFMON:"},
		{"no CAP_PERFMON", []string{"bpf", "net_admin"}, "missing CAP_PERFMON:"},
		{"CAP_BPF and CAP_NET_ADMIN", []string{"bpf", "perfmon", "net_admin"}, "ok"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := bed.Server.AsNobody(t, ctx, c.caps, []string{fmt.Sprintf("%s=%d", unprivEnv, bed.Server.Ifindex)},
			"-test.run=^TestUnprivilegedHelper$", "-test.count=1")
		out, _ := cmd.CombinedOutput()
		cancel()
		result := testbed.ResultLine(out)
		if !strings.Contains(result, c.want) {
			t.Errorf("%s: Load said %q, want it to contain %q\n%s", c.name, result, c.want, out)
		} else {
			t.Logf("%s: %s", c.name, result)
		}
	}
}
