//go:build linux

package bpf

import (
	"strings"
	"testing"

	"github.com/sluicenet/sluice/testbed"
)

// TestJumboMTU: the program is not multi-buffer aware, so native XDP
// refuses a device whose MTU exceeds a page; the automatic mode then
// falls back to generic mode instead of failing.
func TestJumboMTU(t *testing.T) {
	bed := testbed.New(t, testbed.Options{MTU: 9000})
	_, err := loadIn(t, bed.Server, Options{Ifindex: bed.Server.Ifindex, Mode: ModeDriver})
	if err == nil || !strings.Contains(err.Error(), "MTU too large") {
		t.Errorf("driver mode, MTU 9000: %v; want an error naming the MTU", err)
	}
	t.Logf("driver mode, MTU 9000: %v", err)
	p, err := loadIn(t, bed.Server, Options{Ifindex: bed.Server.Ifindex})
	if err != nil {
		t.Fatalf("auto mode, MTU 9000: %v", err)
	}
	if p.Mode() != ModeGeneric {
		t.Errorf("MTU 9000: attached in %s mode, want generic", p.Mode())
	}
}
