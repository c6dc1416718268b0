package sluice

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	bin := filepath.Join(dir, "sluice.test")
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
		caps []string
		want []string
	}{
		{"no capabilities", nil, []string{"missing capabilities CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF, CAP_PERFMON",
			"setcap", "is ErrPermission true, os.ErrPermission true"}},
		// The list names only what is missing.
		{"CAP_NET_ADMIN only", []string{"--inh-caps=+net_admin", "--ambient-caps=+net_admin"},
			[]string{"missing capabilities CAP_NET_RAW, CAP_BPF, CAP_PERFMON (", "is ErrPermission true"}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		args := append([]string{"--reuid=65534", "--regid=65534", "--clear-groups"}, c.caps...)
		args = append(args, bin, "-test.run=^$")
		cmd := bed.Server.Command(ctx, "setpriv", args...)
		cmd.Env = append(os.Environ(), unprivEnv+"="+bed.Server.Link,
			unprivEnv+"_LISTEN="+hostPort(bed.Server.IPv4, 7102), "CI=")
		out, _ := cmd.CombinedOutput()
		cancel()
		var result string
		for _, l := range strings.Split(string(out), "\n") {
			if r, ok := strings.CutPrefix(l, "RESULT: "); ok {
				result = r
			}
		}
		for _, w := range c.want {
			if !strings.Contains(result, w) {
				t.Errorf("%s: Start said %q, want it to contain %q\n%s", c.name, result, w, out)
			}
		}
		t.Logf("%s: %s", c.name, result)
	}
}
