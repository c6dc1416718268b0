//go:build linux

package bpf

import (
	"testing"

	"github.com/sluicenet/sluice/testbed"
)

// BenchmarkProgram measures the program's cost per frame in the kernel
// (BPF_PROG_TEST_RUN with repeat: no driver, no copy), by frame shape.
// b.N kernel runs per sub-benchmark; ns/op is per frame.
func BenchmarkProgram(b *testing.B) {
	testbed.Require(b)
	p, err := Load(Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	if err := p.AddListen(ap(local4, 80)); err != nil {
		b.Fatal(err)
	}
	if err := p.AddListen(ap(local6, 80)); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		frame []byte
	}{
		{"arp", cat(eth(etherARP), make([]byte, 46))},
		{"v4-listened", tcp4(ap(remote4, 1234), ap(local4, 80))},
		{"v4-not-listened", tcp4(ap(remote4, 1234), ap(local4, 22))},
		{"v4-vlan-options", rich4(ap(remote4, 1234), ap(local4, 80))},
		{"v6-listened", tcp6(ap(remote6, 1234), ap(local6, 80), protoTCP, nil)},
		{"v6-two-ext", rich6(ap(remote6, 1234), ap(local6, 80))},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			if _, _, err := p.objs.SluiceSteer.Benchmark(c.frame, b.N, b.ResetTimer); err != nil {
				b.Fatal(err)
			}
		})
	}
}
