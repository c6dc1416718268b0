package sluice

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sluicenet/sluice/testbed"
)

// unprivEnv selects the child mode of the test binary: TestMain then runs
// runUnprivileged instead of the tests.
const unprivEnv = "SLUICE_ROOT_UNPRIV_IFACE"

// runUnprivileged starts a server on the interface the environment names
// (from the namespace it was started in) and prints Start's error.
func runUnprivileged() int {
	s, err := NewServer(Config{
		Interface: os.Getenv(unprivEnv),
		Listen:    []string{os.Getenv(unprivEnv + "_LISTEN")},
		Cores:     []int{-1},
	}, NopHandler{})
	if err == nil {
		err = s.Start()
		s.Close()
	}
	if err == nil {
		fmt.Println("RESULT: ok")
		return 0
	}
	fmt.Printf("RESULT: %v (is ErrPermission %v, os.ErrPermission %v)\n",
		err, errors.Is(err, ErrPermission), errors.Is(err, os.ErrPermission))
	return 0
}

// TestStartPrivileges: without the capabilities Start names the missing
// ones and the error matches ErrPermission and os.ErrPermission. The test
// binary runs as uid nobody (setpriv) in the server namespace, with
// none, then some of the capabilities.
func TestStartPrivileges(t *testing.T) {
	bed := newBed(t, 1)
	for _, c := range []struct {
		name string
		caps []string
		want []string
	}{
		{"no capabilities", nil, []string{"missing capabilities CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF, CAP_PERFMON",
			"setcap", "is ErrPermission true, os.ErrPermission true"}},
		// The list names only what is missing.
		{"CAP_NET_ADMIN only", []string{"net_admin"},
			[]string{"missing capabilities CAP_NET_RAW, CAP_BPF, CAP_PERFMON (", "is ErrPermission true"}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := bed.Server.AsNobody(t, ctx, c.caps, []string{unprivEnv + "=" + bed.Server.Link,
			unprivEnv + "_LISTEN=" + testbed.HostPort(bed.Server.IPv4, 7102)}, "-test.run=^$")
		out, _ := cmd.CombinedOutput()
		cancel()
		result := testbed.ResultLine(out)
		for _, w := range c.want {
			if !strings.Contains(result, w) {
				t.Errorf("%s: Start said %q, want it to contain %q\n%s", c.name, result, w, out)
			}
		}
		t.Logf("%s: %s", c.name, result)
	}
}
