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
	"keepalive": keepaliveWorkload,
	"close":     closeWorkload,
	"latency":   latencyWorkload,
	"wrkcheck":  wrkCheckWorkload,
	"sizes":     sizesWorkload,
	"bulk":      bulkWorkload,
	"idle":      idleWorkload,
	"xdpgen":    xdpGenWorkload,
	"closeraw":  closeRawWorkload,
	"churn":     churnWorkload,
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

func workloadNames() []string { return slices.Sorted(maps.Keys(workloads)) }
