package main

// The targets of issue 8, evaluated on this run's figures and shown beside
// them. They are reported, never asserted: a shared 2-core machine on veth
// in AF_XDP copy mode is not where they are meant to be met.

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// Target is one goal and what this run measured for it.
type Target struct {
	Goal     string  `json:"goal"`
	Impl     string  `json:"impl"`
	Measured float64 `json:"measured"` // a ratio (Of/To) or an absolute figure
	Want     float64 `json:"want"`
	AtMost   bool    `json:"at_most"` // Measured <= Want meets it, else >=
	Unit     string  `json:"unit"`    // "x" for ratios
	Met      bool    `json:"met"`
	Found    bool    `json:"found"` // false: the run did not measure it
	// RoundsMet counts the rounds whose own ratio meets the goal, of
	// Rounds (ratio targets with paired runs).
	RoundsMet, Rounds int    `json:",omitempty"`
	Note              string `json:"note,omitempty"`
}

type targetSpec struct {
	goal             string
	workload, metric string
	of, to           string // to == "": absolute figure of `of`
	want             float64
	atMost           bool
	unit             string
}

var targetSpecs = []targetSpec{
	{"keep-alive req/s per core ≥ 2× gnet", "keepalive", "requests/s", "sluice", "gnet", 2, false, "x"},
	{"keep-alive req/s per core ≥ 4× net/http", "keepalive", "requests/s", "sluice", "net/http", 4, false, "x"},
	{"same, generator on sluice Dial (xdpgen): ≥ 2× gnet", "xdpgen", "requests/s", "sluice", "gnet", 2, false, "x"},
	{"same, generator on sluice Dial (xdpgen): ≥ 4× net/http", "xdpgen", "requests/s", "sluice", "net/http", 4, false, "x"},
	{"conn/s ≥ 5× net/http", "close", "connections/s", "sluice", "net/http", 5, false, "x"},
	{"same, raw-frame generator (closeraw): ≥ 5× net/http", "closeraw", "connections/s", "sluice", "net/http", 5, false, "x"},
	// The 100k TIME-WAIT entries a second for 60 s: the seconds
	// of the churn window that reached it (the window is 60 s unless
	// -churn-duration or -short says otherwise).
	{"TIME-WAIT churn: 100k/s for 60 s", "churn", "seconds at ≥ 100k/s", "sluice", "", 60, false, "s"},
	{"CPU/request ≤ 0.4× gnet", "keepalive", "cpu/request", "sluice", "gnet", 0.4, true, "x"},
	{"CPU/request ≤ 0.4× gnet (xdpgen)", "xdpgen", "cpu/request", "sluice", "gnet", 0.4, true, "x"},
	{"p99 at 50% load ≤ 0.5× gnet's at the same rate", "latency", "p99 @common", "sluice", "gnet", 0.5, true, "x"},
	{"0 allocations/request", "keepalive", "allocs/request", "sluice", "", 0, true, "allocs"},
	{"idle connection ≤ 1 KiB", "idle", "bytes/idle connection", "sluice", "", 1024, true, "B"},
	// The table's own heap per entry, filled to 1M (timewait.go): the
	// RSS growth of a run is an upper bound full of other growth.
	{"TIME-WAIT entry ≤ 64 B (heap at 1M)", "close", "heap/TIME-WAIT entry at 1M", "sluice", "", 64, true, "B"},
}

// targetImpls are the servers the targets are evaluated for: examples/httpd
// (the "sluice") and the minimal responder (like for like with gnet).
var targetImpls = []string{"sluice", "sluice-raw"}

func evalTargets(rs []Result) []Target {
	find := func(w, m, impl string) (Result, bool) {
		for _, r := range rs {
			if r.Workload == w && r.Metric == m && r.Impl == impl {
				return r, true
			}
		}
		return Result{}, false
	}
	var out []Target
	for _, impl := range targetImpls {
		for _, s := range targetSpecs {
			s.of = impl
			out = append(out, evalTarget(find, s))
		}
	}
	return out
}

func evalTarget(find func(w, m, impl string) (Result, bool), s targetSpec) Target {
	t := Target{Goal: s.goal, Impl: s.of, Want: s.want, AtMost: s.atMost, Unit: s.unit}
	r, ok := find(s.workload, s.metric, s.of)
	v := r.Value
	var rounds []float64
	if ok && s.to != "" {
		var o Result
		if o, ok = find(s.workload, s.metric, s.to); ok {
			v, rounds, ok = pairedRatio(r, o)
		}
	}
	if !ok {
		return t
	}
	// A request path that allocates shows as 1 or more per request; a
	// few hundredths and less are the process's background (a Date field
	// formatted once a second, timers, the stats requests themselves),
	// not the request path.
	met := func(v float64) bool {
		if s.atMost {
			return v <= s.want+0.01
		}
		return v >= s.want
	}
	t.Found, t.Measured, t.Met = true, v, met(v)
	for _, x := range rounds {
		if met(x) {
			t.RoundsMet++
		}
	}
	t.Rounds = len(rounds)
	// Latency targets: a round whose p99 is the generator's own lag or a
	// queue (a server that could not take the rate) does not compare
	// servers; say how many there were (httpworkloads.go, clean rounds).
	if c, ok := find(s.workload, "clean rounds @common", s.of); ok && s.metric == "p99 @common" {
		o, _ := find(s.workload, "clean rounds @common", s.to)
		sum := func(r Result) (n float64) {
			for _, v := range r.Runs {
				n += v
			}
			return n
		}
		t.Note = fmt.Sprintf("clean rounds: %s %g of %d, %s %g of %d", s.of, sum(c), len(c.Runs), s.to, sum(o), len(o.Runs))
		if both, met := cleanRoundsMet(c, o, rounds, met); len(rounds) > 0 {
			t.Note += fmt.Sprintf("; met in %d of the %d clean for both", met, both)
		}
	}
	if s.workload == "churn" {
		t.Note = churnNote(find, s.of)
	}
	return t
}

// churnNote says what the churn run reached beside the seconds counted:
// the rate, the window, and the table against its bound.
func churnNote(find func(w, m, impl string) (Result, bool), impl string) string {
	get := func(m string) float64 {
		r, _ := find("churn", m, impl)
		return r.Value
	}
	secs, _ := find("churn", "seconds at ≥ 100k/s", impl)
	held, bound := get("TIME-WAIT held (max)"), get("TIME-WAIT bound")
	within := "within"
	if held > bound {
		within = "NOT within"
	}
	return fmt.Sprintf("%.0f entries/s over the window (%s); held at most %.0f, %s the bound %.0f; %.0f closed without TIME-WAIT at the bound",
		get("TIME-WAIT created/s"), secs.Note, held, within, bound, get("TIME-WAIT overflow"))
}

func printTargets(w io.Writer, ts []Target) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "target\timpl\tmeasured\twant\tmet\trounds met\tnote")
	for _, t := range ts {
		if !t.Found {
			fmt.Fprintf(tw, "%s\t%s\tnot measured\t\t-\n", t.Goal, t.Impl)
			continue
		}
		op := "≥"
		if t.AtMost {
			op = "≤"
		}
		met := "no"
		if t.Met {
			met = "yes"
		}
		m := fmt.Sprintf("%.2f%s", t.Measured, t.Unit)
		if t.Unit != "x" {
			m = fmt.Sprintf("%.3g %s", t.Measured, t.Unit)
		}
		rounds := ""
		if t.Rounds > 0 {
			rounds = fmt.Sprintf("%d/%d", t.RoundsMet, t.Rounds)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s %g%s\t%s\t%s\t%s\n", t.Goal, t.Impl, m, op, t.Want, map[bool]string{true: "x", false: " " + t.Unit}[t.Unit == "x"], met, rounds, t.Note)
	}
	tw.Flush()
}

// cleanRoundsMet counts the rounds clean for both servers (c and o: the
// "clean rounds" figures, 1 per clean round) and those of them whose own
// ratio (rounds, in the same order) meets the goal.
func cleanRoundsMet(c, o Result, rounds []float64, met func(float64) bool) (both, n int) {
	if len(c.Runs) != len(rounds) || len(o.Runs) != len(rounds) {
		return 0, 0
	}
	for i, x := range rounds {
		if c.Runs[i] == 1 && o.Runs[i] == 1 {
			both++
			if met(x) {
				n++
			}
		}
	}
	return both, n
}
