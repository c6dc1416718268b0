package main

import (
	"maps"
	"slices"
)

// A workload builds what it needs (testbed included), measures every
// implementation in the same run, tears everything down and returns figures.
type workload func(c config) ([]Result, error)

var workloads = map[string]workload{
	"reflector": reflectorWorkload,
	"keepalive": genPolled(keepaliveWorkload),
	"close":     closeWorkload,
	"latency":   latencyWorkload,
	"wrkcheck":  wrkCheckWorkload,
	"sizes":     sizesWorkload,
	"bulk":      bulkWorkload,
	"idle":      idleWorkload,
	"xdpgen":    xdpGenWorkload,
	"closeraw":  closeRawWorkload,
	"churn":     churnWorkload,
	// keepalive with the kernel generator plain and polling (genab.go);
	// only when named.
	"keepalive-gens": genPolled(keepaliveGensWorkload),
}

// defaultWorkloads run without -workloads: all of them. wrkcheck needs wrk;
// it is left out where wrk is not installed (see wrkAvailable).
var defaultWorkloads = func() []string {
	w := []string{"reflector", "keepalive", "xdpgen", "close", "closeraw", "churn", "latency", "sizes", "bulk", "idle"}
	if wrkAvailable() {
		w = append(w, "wrkcheck")
	}
	return w
}()

// genPolled runs w with the kernel generator polling its own receive in
// closed-loop keep-alive runs (-gen-poll, genpoll.go). Other workloads run
// it plain: the latency workload's calibration must match its open-loop
// runs, where a response arriving while the generator sleeps would wait
// for the deferral timer; sizes and bulk keep their figures comparable
// with earlier runs.
func genPolled(w workload) workload {
	return func(c config) ([]Result, error) {
		c.genPollHere = true
		return w(c)
	}
}

func workloadNames() []string { return slices.Sorted(maps.Keys(workloads)) }
