package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPerfToPprof: perf script's output becomes a profile go tool pprof
// reads, with each sample's frames and its thread as the root.
func TestPerfToPprof(t *testing.T) {
	script := "benchbin  101 \n" +
		"\tffffffff81000001 tcp_v4_rcv+0x10\n" +
		"\t          4a0000 main.serve\n" +
		"\n" +
		"napi/sl-srv-7  55 \n" +
		"\tffffffff81000001 tcp_v4_rcv+0x22\n" +
		"\n" +
		"benchbin  101 \n" +
		"\t          4a0010 main.serve+0x4\n"
	f := filepath.Join(t.TempDir(), "p.pb.gz")
	if err := os.WriteFile(f, perfToPprof([]byte(script)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("go", "tool", "pprof", "-top", "-cum", f).CombinedOutput()
	if err != nil {
		t.Fatalf("go tool pprof: %v\n%s", err, out)
	}
	// cum counts: tcp_v4_rcv 2 of 3, main.serve 2, [benchbin] 2, [napi thread] 1.
	for _, want := range []string{"of 3 total", "2 66.67%  tcp_v4_rcv", "2 66.67%  main.serve", "2 66.67%  [benchbin]", "1 33.33%  [napi thread]"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("want %q in:\n%s", want, out)
		}
	}
}
