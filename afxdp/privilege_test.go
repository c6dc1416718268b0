package afxdp

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicenet/sluice/testbed"
)

// TestPermissionError re-runs this test binary as uid/gid nobody with no
// capabilities (setpriv), inside the testbed's server namespace; there, opening the registering socket must fail with
// ErrPermission, whose message names the capabilities to grant.
func TestPermissionError(t *testing.T) {
	if v := os.Getenv("AFXDP_UNPRIV_CHILD"); v != "" {
		ifindex, _ := strconv.Atoi(v)
		u, err := NewUmem(UmemConfig{FrameSize: 2048, FrameCount: 16})
		if err != nil {
			t.Fatalf("NewUmem needs no privilege, got %v", err)
		}
		defer u.Close()
		_, err = NewSocket(u, ifindex, 0, SocketConfig{})
		if !errors.Is(err, ErrPermission) || !strings.Contains(err.Error(), "CAP_NET_ADMIN+CAP_NET_RAW") {
			t.Fatalf("unprivileged NewSocket = %v, want ErrPermission", err)
		}
		return
	}
	b := testbed.New(t, testbed.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := b.Server.AsNobody(t, ctx, nil, []string{"AFXDP_UNPRIV_CHILD=" + strconv.Itoa(b.Server.Ifindex)},
		"-test.run=^TestPermissionError$", "-test.count=1", "-test.v")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("unprivileged child failed: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestPermissionError") {
		t.Fatalf("child did not run the check:\n%s", out)
	}
}
