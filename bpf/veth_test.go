//go:build linux

package bpf

import (
	"testing"

	"github.com/sluicenet/sluice/testbed"
)

// TestVeth: the program tells a veth (where partial TCP checksums are
// accepted) from another device, here the namespace's loopback.
func TestVeth(t *testing.T) {
	bed := testbed.New(t, testbed.Options{})
	p, err := loadIn(t, bed.Server, Options{Ifindex: bed.Server.Ifindex})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Veth() {
		t.Errorf("%s: Veth() = false", bed.Server.Link)
	}
	lo, err := loadIn(t, bed.Server, Options{Ifindex: 1, Mode: ModeGeneric})
	if err != nil {
		t.Fatal(err)
	}
	if lo.Veth() {
		t.Error("lo: Veth() = true")
	}
	p.Close()
	if p.Veth() {
		t.Error("closed program: Veth() = true")
	}
	unattached, err := Load(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer unattached.Close()
	if unattached.Veth() {
		t.Error("unattached program: Veth() = true")
	}
}
