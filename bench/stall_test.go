package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicenet/sluice/bench/loadgen"
	"github.com/sluicenet/sluice/testbed"
)

// TestStalledRunIsAnError: a run that completed no request (and counted no
// error: every SYN unanswered) gets an errors row that says what was
// outstanding and how long each side waited for a CPU, not a silent 0 in
// requests/s. A run that completed requests adds nothing.
func TestStalledRunIsAnError(t *testing.T) {
	res := func(requests uint64) *loadgen.Result {
		return &loadgen.Result{Requests: requests, Elapsed: 500 * time.Millisecond, CPU: time.Millisecond,
			Waited: 480 * time.Millisecond, Stuck: loadgen.Stuck{Connecting: 64, Oldest: 700 * time.Millisecond}}
	}
	f := &figures{workload: "keepalive"}
	f.errors("fine", sample{res: res(100)})
	f.errors("stalled", sample{res: res(0), serverCPU: 2 * time.Millisecond, serverWait: 400 * time.Millisecond,
		diag: "loop 0: rx=0"})
	var rows []Result
	for _, r := range f.results() {
		if r.Metric == "errors" {
			rows = append(rows, r)
		}
	}
	if len(rows) != 1 || rows[0].Impl != "stalled" || rows[0].Value != 1 {
		t.Fatalf("errors rows %+v; want one, for the stalled run, of 1", rows)
	}
	var starvedRows int
	for _, r := range f.results() {
		if r.Metric == "starved runs" {
			starvedRows++
			if r.Impl != "stalled" {
				t.Errorf("starved row for %s", r.Impl)
			}
		}
	}
	if starvedRows != 1 {
		t.Errorf("%d starved rows, want 1 (the server waited 400 ms of 500)", starvedRows)
	}
	g := &figures{workload: "keepalive"}
	g.errors("stopped", sample{res: &loadgen.Result{Elapsed: 500 * time.Millisecond}, serverCPU: 400 * time.Millisecond, serverWait: 10 * time.Millisecond})
	for _, r := range g.results() {
		if r.Metric == "starved runs" {
			t.Errorf("a server that ran 400 ms and completed nothing counted as starved")
		}
	}
	late := stallNote(sample{res: res(0), serverSpan: 13 * time.Second})
	if !strings.Contains(late, "13s between its readings") {
		t.Errorf("edges read 13 s apart: note %q does not say so", late)
	}
	for _, want := range []string{"no request completed", "64 connecting", "waited 480ms for a CPU over the window", "server's threads ran 2ms and waited 400ms over the window", "loop 0: rx=0"} {
		if !strings.Contains(rows[0].Note, want) {
			t.Errorf("note %q lacks %q", rows[0].Note, want)
		}
	}
}

// TestSluiceChildAnswersDiag: a sluice child answers "diag" with its XDP
// program's and loop's counters, which a stalled run's note carries; a
// kernel-TCP child has none to give.
func TestSluiceChildAnswersDiag(t *testing.T) {
	bed := testbed.New(t, testbed.Options{Queues: 1})
	for _, kind := range []string{"sluice-raw", "gnet"} {
		i := slices.IndexFunc(httpServers, func(h httpServer) bool { return h.kind == kind })
		if i < 0 {
			t.Fatalf("no server %s", kind)
		}
		srv, err := startServer(bed, httpServers[i], 0)
		if err != nil {
			t.Fatal(err)
		}
		d := srv.diag()
		srv.stop()
		want := "-"
		if kind == "sluice-raw" {
			want = "xdp redirected="
		}
		t.Logf("%s: %s", kind, d)
		if !strings.HasPrefix(d, want) || (kind == "sluice-raw" && !strings.Contains(d, "loop 0: iterations=")) {
			t.Errorf("%s: diag %q; want it to begin %q", kind, d, want)
		}
	}
}
