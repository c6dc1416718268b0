package testbed

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// Require stops tb unless this process can build a testbed: root (or
// CAP_NET_ADMIN + CAP_SYS_ADMIN for namespaces and CAP_BPF for XDP), network
// namespaces, veth, and AF_XDP sockets. Outside CI the test is skipped with
// the reason; with CI=true it fails, because CI must run the system tests.
func Require(tb testing.TB) {
	tb.Helper()
	if err := Check(); err != nil {
		if InCI() {
			tb.Fatalf("system test cannot run (CI=true forbids skipping): %v", err)
		}
		tb.Skipf("system test skipped: %v", err)
	}
}

// InCI reports whether the CI=true environment is set.
func InCI() bool { return os.Getenv("CI") == "true" }

// Check reports why a testbed cannot be built here, or nil.
func Check() error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (or CAP_NET_ADMIN+CAP_SYS_ADMIN+CAP_BPF): run with sudo")
	}
	if _, err := os.Stat("/proc/self/ns/net"); err != nil {
		return fmt.Errorf("kernel without network namespaces: %w", err)
	}
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW, 0)
	if err != nil {
		return fmt.Errorf("kernel without AF_XDP sockets (CONFIG_XDP_SOCKETS): %w", err)
	}
	unix.Close(fd)
	return nil
}
