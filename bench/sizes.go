package main

// Response-size and bulk workloads: the same servers, keep-alive GET of
// /bytes/N (responses.go).
//
//	sizes  64 B, 16 KiB and 1 MiB bodies: requests/s, body MB/s, CPU/request
//	bulk   one connection fetching 1 MiB bodies back to back: the throughput
//	       of a single stream and the server CPU per MiB sent

import (
	"fmt"

	"github.com/sluicenet/sluice/bench/loadgen"
	"github.com/sluicenet/sluice/testbed"
)

// sizeLabel names a body size in the table: "64 B", "16 KiB", "1 MiB".
func sizeLabel(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// sizeConns is how many keep-alive connections fetch bodies of n octets:
// at 1 MiB a few connections fill the link, and many would only measure
// buffer bloat.
func sizeConns(c config, n int) int {
	if n >= 1<<20 {
		return min(c.conns, 4)
	}
	return c.conns
}

func sizesWorkload(c config) ([]Result, error) {
	f := &figures{workload: "sizes"}
	err := eachRun(c, c.runs, func(bed *testbed.Bed, s httpServer, srv *serverProc) error {
		for _, n := range responseSizes {
			progressStep("sizes", s.name+" "+sizeLabel(n))
			m, err := measureHTTP(c, bed, srv, loadgen.Config{Mode: loadgen.KeepAlive, Conns: sizeConns(c, n),
				Path: sizePath(n), WantLength: int64(n)})
			if err != nil {
				return err
			}
			l := sizeLabel(n)
			rps := m.res.PerSecond(m.res.Requests)
			f.add(s.name, "requests/s "+l, "req/s", higher, rps)
			f.add(s.name, "MB/s "+l, "MB/s", higher, rps*float64(n)/1e6).Note = "response bodies, 10^6 octets/s"
			f.add(s.name, "cpu/request "+l, "ns", lower, m.perOp())
			f.add(s.name, "p99 "+l, "µs", lower, m.quantileUS(99))
			f.errors(s.name, m)
		}
		return nil
	})
	return f.results(), err
}

func bulkWorkload(c config) ([]Result, error) {
	f := &figures{workload: "bulk"}
	n := responseSizes[len(responseSizes)-1]
	err := eachRun(c, c.runs, func(bed *testbed.Bed, s httpServer, srv *serverProc) error {
		progressStep("bulk", s.name)
		m, err := measureHTTP(c, bed, srv, loadgen.Config{Mode: loadgen.KeepAlive, Conns: 1, Path: sizePath(n), WantLength: int64(n)})
		if err != nil {
			return err
		}
		rps := m.res.PerSecond(m.res.Requests)
		f.add(s.name, "Gbit/s", "Gbit/s", higher, rps*float64(n)*8/1e9).Note =
			fmt.Sprintf("one connection, %s bodies back to back", sizeLabel(n))
		perMiB := 0.0
		if m.res.Requests > 0 {
			perMiB = float64(m.serverCPU) / 1e3 / (float64(m.res.Requests) * float64(n) / (1 << 20))
		}
		f.add(s.name, "cpu/MiB", "µs", lower, perMiB).Note = "server CPU (process + NAPI thread) per MiB of body sent"
		f.errors(s.name, m)
		return nil
	})
	return f.results(), err
}
