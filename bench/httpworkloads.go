package main

// HTTP workloads: every server in httpServers, one after the other, alone on
// the server CPU, measured by the load generator on the client CPU.
//
//	keepalive  closed-loop keep-alive GET: requests/s, latency, server CPU/request
//	close      one request per connection (Connection: close): connections/s, CPU/connection
//	latency    open-loop at 25/50/75% of each server's own maximum, and at one
//	           common rate: p50/p99/p99.9 from the intended send time
//	wrkcheck   the generator's keep-alive requests/s against wrk's, same server

import (
	"fmt"
	"os"
	"slices"

	"github.com/sluicenet/sluice/bench/loadgen"
	"github.com/sluicenet/sluice/testbed"
)

const (
	higher = "higher"
	lower  = "lower"
)

// helloLength is the Content-Length every server must send (serve_child.go).
const helloLength = int64(len(helloBody))

// figures collects runs into Results, one per (workload, impl, metric), in
// the order they first appear.
type figures struct {
	workload string
	out      []Result
}

func (f *figures) add(impl, metric, unit, better string, v float64) *Result {
	for i := range f.out {
		r := &f.out[i]
		if r.Impl == impl && r.Metric == metric {
			r.Runs = append(r.Runs, v)
			return r
		}
	}
	f.out = append(f.out, Result{Workload: f.workload, Impl: impl, Metric: metric, Unit: unit, Better: better, Runs: []float64{v}})
	return &f.out[len(f.out)-1]
}

// errors records a run's error count (the row is dropped if every run of
// it had none) and marks a run that had some, as the brief of a run with
// errors is that its figures are suspect. A run that completed no request
// counts as one error, with why in the note (stall.go): its 0 is not a
// figure of the server.
func (f *figures) errors(impl string, s sample) {
	n, note := s.res.ErrorCount(), s.res.ErrorString()
	if stall := stallNote(s); stall != "" {
		n, note = n+1, joinNote(note, stall)
		if starved(s) {
			f.add(impl, "starved runs", "count", lower, 1).Note = "runs that completed no request while the server's threads waited for a CPU over half the window, or the generator had no turn in it: the machine's, counted in errors too"
		}
	}
	r := f.add(impl, "errors", "count", lower, float64(n))
	r.Note = joinNote(r.Note, note)
}

// addBusy records how busy the server and the generator were: context for
// the other figures, not a comparison (no direction, so no ratio).
func (f *figures) addBusy(impl string, s sample) {
	f.add(impl, "server busy", "%", "", s.busy(true)).Note = "server CPU time (process + its NAPI thread on -rig napi) / window"
	f.add(impl, "loadgen busy", "%", "", s.busy(false)).Note = "generator thread CPU time / window; ~100: generator-bound"
	f.add(impl, "server waited", "%", "", s.waited(true)).Note = "server threads' run-queue wait / window: off their CPU behind other load or (-rig napi) the server's own NAPI thread"
	f.add(impl, "loadgen waited", "%", "", s.waited(false)).Note = "generator thread's run-queue wait / window; high: the figures are the machine's, not the server's"
}

func (f *figures) results() []Result {
	var out []Result
	for _, r := range f.out {
		if r.Metric == "errors" && !slices.ContainsFunc(r.Runs, func(v float64) bool { return v > 0 }) {
			continue
		}
		r.Value = median(r.Runs)
		out = append(out, r)
	}
	return out
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	if b == "" || a == b {
		return a
	}
	return a + "; " + b
}

// eachRun builds a testbed and, runs times, starts every server in turn,
// calls fn and stops (kills) the server, also when fn fails. Runs of
// different servers interleave, so a noisy spell on a shared machine
// touches every server's runs rather than all of one server's.
func eachRun(c config, runs int, fn func(bed *testbed.Bed, s httpServer, srv *serverProc) error) error {
	return eachRunOf(c, runs, httpServers, fn)
}

// eachRunOf is eachRun over the given servers.
func eachRunOf(c config, runs int, servers []httpServer, fn func(bed *testbed.Bed, s httpServer, srv *serverProc) error) error {
	return eachRunOn(c, runs, servers, nil, fn)
}

// eachRunOn is eachRunOf with prep run on the new testbed before any
// server starts (nil: none).
func eachRunOn(c config, runs int, servers []httpServer, prep func(*testbed.Bed) error, fn func(bed *testbed.Bed, s httpServer, srv *serverProc) error) error {
	bed, err := testbed.Create(testbed.Options{Queues: 1})
	if err != nil {
		return err
	}
	defer bed.Close()
	if prep != nil {
		if err := prep(bed); err != nil {
			return err
		}
	}
	widenPortRange(bed.Peer)
	napi, err := setupRig(c, bed)
	if err != nil {
		// A kernel without threaded NAPI on veth: measure on veth's
		// default rather than not at all, and say so (rig.go).
		rigFallback(err)
		napi = nil
	}
	for range runs {
		for _, s := range servers {
			srv, err := startServer(bed, s, c.serverCPU)
			if err != nil {
				return err
			}
			srv.napi = napi
			err = fn(bed, s, srv)
			srv.stop()
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
		}
	}
	return nil
}

func keepaliveWorkload(c config) ([]Result, error) {
	f := &figures{workload: "keepalive"}
	err := eachRun(c, c.runs, func(bed *testbed.Bed, s httpServer, srv *serverProc) error {
		progressStep("keepalive", s.name)
		m, err := measureHTTP(c, bed, srv, loadgen.Config{Mode: loadgen.KeepAlive, Conns: c.conns, WantLength: helloLength})
		if err != nil {
			return err
		}
		keepHist("keepalive", s.name, m)
		keepaliveFigures(f, s.name, m, func() {
			f.add(s.name, "allocs/request", "allocs", lower, m.allocsPerOp()).Note = "server Go heap allocations (MemStats.Mallocs) / requests"
		})
		f.add(s.name, "p99.9", "µs", lower, m.quantileUS(99.9))
		return nil
	})
	return f.results(), err
}

// keepaliveFigures adds a keep-alive window's rows: throughput, CPU per
// request, then extra's rows, busy and waiting, p50, p99 and errors.
func keepaliveFigures(f *figures, impl string, m sample, extra func()) {
	f.add(impl, "requests/s", "req/s", higher, m.res.PerSecond(m.res.Requests))
	f.add(impl, "cpu/request", "ns", lower, m.perOp()).Note = "server utime+stime (process + NAPI thread) / requests"
	extra()
	f.addBusy(impl, m)
	f.add(impl, "p50", "µs", lower, m.quantileUS(50))
	f.add(impl, "p99", "µs", lower, m.quantileUS(99))
	f.errors(impl, m)
}

func closeWorkload(c config) ([]Result, error) {
	f := &figures{workload: "close"}
	err := eachRun(c, c.runs, func(bed *testbed.Bed, s httpServer, srv *serverProc) error {
		progressStep("close", s.name)
		// The kernel's TIME-WAIT count is the namespace's: take the
		// earlier runs' entries off.
		tw0, err := kernelTimeWait(bed.Server)
		if err != nil {
			return err
		}
		m, err := measureHTTPOpt(c, bed, srv, loadgen.Config{Mode: loadgen.Close, Conns: c.closeConns, WantLength: helloLength}, true)
		if err != nil {
			return err
		}
		if err := timeWaitFigures(f, bed, s, srv, m, tw0); err != nil {
			return err
		}
		f.add(s.name, "connections/s", "conn/s", higher, m.res.PerSecond(m.res.Requests)).Note =
			"connect, GET with Connection: close, response, server closes"
		f.add(s.name, "cpu/connection", "ns", lower, m.perOp()).Note = "server utime+stime (process + NAPI thread) / connections"
		f.add(s.name, "allocs/connection", "allocs", lower, m.allocsPerOp()).Note = "server Go heap allocations / connections"
		f.addBusy(s.name, m)
		f.add(s.name, "p50", "µs", lower, m.quantileUS(50)).Note = "connect() to complete response"
		f.add(s.name, "p99", "µs", lower, m.quantileUS(99))
		f.errors(s.name, m)
		return nil
	})
	return f.results(), err
}

// widenPortRange gives the generator's namespace every unprivileged port:
// at tens of thousands of connections/s the default 28k ephemeral ports
// cycle within a second. (The peer namespace is the testbed's own.) The
// sysctl is per namespace, and sysctl files resolve the namespace of the
// thread that opens them.
func widenPortRange(h *testbed.Host) {
	h.Do(func() error {
		return os.WriteFile("/proc/sys/net/ipv4/ip_local_port_range", []byte("1024 65535"), 0o644)
	})
}
