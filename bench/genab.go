package main

// keepalive-gens: the keepalive workload with the kernel generator plain
// (-gen-poll off), polling its own receive (-gen-poll, genpoll.go) and,
// with -gen-uring, polling and batching its system calls through
// io_uring, all against the same server process, back to back, the
// order rotating by round, so that the generators' figures come from the
// same run. Only when named in -workloads.

import (
	"github.com/sluicenet/sluice/bench/loadgen"
	"github.com/sluicenet/sluice/testbed"
)

func keepaliveGensWorkload(c config) ([]Result, error) {
	plain := c
	plain.genPoll = genPoll{off: true}
	pollOnly := c
	pollOnly.genURing = false
	type mode struct {
		f *figures
		c config
	}
	modes := []mode{
		{&figures{workload: "keepalive gen=off"}, plain},
		{&figures{workload: "keepalive gen=poll"}, pollOnly},
	}
	if c.genURing {
		modes = append(modes, mode{&figures{workload: "keepalive gen=poll+uring"}, c})
	}
	round := map[string]int{}
	err := eachRun(c, c.runs, func(bed *testbed.Bed, s httpServer, srv *serverProc) error {
		for k := range modes {
			m := modes[(k+round[s.name])%len(modes)]
			progressStep(m.f.workload, s.name)
			r, err := measureHTTP(m.c, bed, srv, loadgen.Config{Mode: loadgen.KeepAlive, Conns: c.conns, WantLength: helloLength})
			if err != nil {
				return err
			}
			keepaliveFigures(m.f, s.name, r, func() {
				m.f.add(s.name, "loadgen cpu/request", "ns", lower, r.genPerOp()).Note = "generator thread + the peer end's NAPI thread / requests: the generator core's cost"
			})
		}
		round[s.name]++
		return nil
	})
	var out []Result
	for _, m := range modes {
		out = append(out, m.f.results()...)
	}
	return out, err
}
