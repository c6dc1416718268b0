package testbed

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// AsNobody runs a copy of the running test binary in h's namespace as uid
// and gid 65534 (nobody) through setpriv, with only the capabilities named
// in caps (setpriv names: "net_admin", "bpf", ...) in its inheritable and
// ambient sets, so a test can check what an unprivileged process is told.
// The copy lives in a world-readable temporary directory: nobody cannot
// execute the original under go test's private build directory. env is
// added to the child's environment (CI is cleared: the child must not fail
// its own privilege checks).
func (h *Host) AsNobody(tb testing.TB, ctx context.Context, caps []string, env []string, args ...string) *exec.Cmd {
	tb.Helper()
	dir := tb.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	bin := filepath.Join(dir, filepath.Base(os.Args[0]))
	exe, err := os.ReadFile(os.Args[0])
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(bin, exe, 0o755); err != nil {
		tb.Fatal(err)
	}
	a := []string{"--reuid=65534", "--regid=65534", "--clear-groups"}
	if len(caps) > 0 {
		set := "+" + strings.Join(caps, ",+")
		a = append(a, "--inh-caps="+set, "--ambient-caps="+set)
	}
	cmd := h.Command(ctx, "setpriv", append(append(a, bin), args...)...)
	cmd.Env = append(append(os.Environ(), env...), "CI=")
	return cmd
}

// ResultLine is the text after the last "RESULT: " line of a child's
// output, the convention of the privilege tests' children.
func ResultLine(out []byte) string {
	var r string
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "RESULT: "); ok {
			r = v
		}
	}
	return r
}
