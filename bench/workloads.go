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
}

func workloadNames() []string { return slices.Sorted(maps.Keys(workloads)) }
