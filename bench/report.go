package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
)

// Machine describes where the numbers were measured.
type Machine struct {
	Kernel  string `json:"kernel"`
	CPUs    int    `json:"cpus"`
	Model   string `json:"cpu_model"`
	Go      string `json:"go"`
	MemKiB  int64  `json:"mem_total_kib"`
	Testbed string `json:"testbed"`
	// Load averages (1 min) when the run started and ended: on a shared
	// machine, how much else was running.
	LoadStart float64 `json:"loadavg_start"`
	LoadEnd   float64 `json:"loadavg_end"`
}

// loadAvg is the 1-minute load average.
func loadAvg() float64 {
	var v float64
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Sscanf(string(b), "%g", &v)
	}
	return v
}

func describeMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), LoadStart: loadAvg(),
		Testbed: "two network namespaces joined by a veth pair (1 queue); sluice on AF_XDP in copy mode " +
			"(veth has no zero-copy), XDP attached in sluice's default mode (driver first, generic fallback); peer with TSO/GSO and TX checksum offload off"}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		fmt.Sscanf(strings.TrimPrefix(strings.SplitN(string(b), "\n", 2)[0], "MemTotal:"), "%d", &m.MemKiB)
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.Model = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// median of the runs (the mean of the middle two for an even count).
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// ratioPairs says which implementations each one is compared against; the
// first of each pair is the one being judged.
var ratioPairs = [][2]string{
	{"afxdp", "asavie/xdp"},
	// HTTP servers (httpservers.go). sluice's two servers appear in the
	// results once they exist; until then gnet against net/http keeps the
	// pairing exercised.
	{"sluice", "net/http"},
	{"sluice", "gnet"},
	{"sluice-raw", "net/http"},
	{"sluice-raw", "gnet"},
	{"sluice (net/http via Listener)", "net/http"},
	{"gnet", "net/http"},
	// wrkcheck: the load generator against wrk on the same server.
	{"loadgen", "wrk"},
}

// pairedRatio compares a with b round by round: runs of different servers
// interleave (run i of each server follows run i-1 of every server), so
// a[i]/b[i] are measured minutes apart rather than a whole workload
// apart, and the median of those per-round ratios is reported. A noisy
// spell that hits one round of one server moves one ratio, where the
// ratio of the two medians can pick runs from different rounds. With
// unequal run counts it falls back to the ratio of the medians.
func pairedRatio(a, b Result) (v float64, rounds []float64, ok bool) {
	if len(a.Runs) == len(b.Runs) && len(a.Runs) > 0 {
		for i := range a.Runs {
			if b.Runs[i] != 0 {
				rounds = append(rounds, a.Runs[i]/b.Runs[i])
			}
		}
		if len(rounds) == len(a.Runs) {
			return median(rounds), rounds, true
		}
	}
	if b.Value == 0 {
		return 0, nil, false
	}
	return a.Value / b.Value, nil, true
}

func ratios(rs []Result) []Ratio {
	var out []Ratio
	find := func(w, m, impl string) (Result, bool) {
		for _, r := range rs {
			if r.Workload == w && r.Metric == m && r.Impl == impl {
				return r, true
			}
		}
		return Result{}, false
	}
	for _, r := range rs {
		for _, p := range ratioPairs {
			// Figures without a direction (how busy a CPU was) are
			// context, not a comparison.
			if r.Impl != p[0] || r.Better == "" {
				continue
			}
			if o, ok := find(r.Workload, r.Metric, p[1]); ok {
				if v, rounds, ok := pairedRatio(r, o); ok {
					out = append(out, Ratio{Workload: r.Workload, Metric: r.Metric, Of: p[0], To: p[1], Value: v, Rounds: rounds, Better: r.Better})
				}
			}
		}
	}
	return out
}

func printTable(w io.Writer, rep Report) {
	fmt.Fprintf(w, "\nsluice bench — %s, %d CPUs (%s), %s, short=%v, rig %s, load average %.1f at start, %.1f at end, %s\n\n",
		rep.Machine.Kernel, rep.Machine.CPUs, rep.Machine.Model, rep.Machine.Go, rep.Short, rep.Rig,
		rep.Machine.LoadStart, rep.Machine.LoadEnd, rep.Elapsed)
	// One row per figure, with its ratios against each peer of this run
	// beside it (ratioPairs; the separate list is in the JSON). Ratios
	// read in the metric's direction: for "higher", above 1 is better; for
	// "lower", below 1 is better.
	ratio := map[[4]string]float64{}
	for _, r := range rep.Ratios {
		ratio[[4]string{r.Workload, r.Metric, r.Of, r.To}] = r.Value
	}
	cell := func(r Result, peer string) string {
		if v, ok := ratio[[4]string{r.Workload, r.Metric, r.Impl, peer}]; ok {
			return fmt.Sprintf("%.2fx", v)
		}
		return ""
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "workload\timpl\tmetric\tmedian\tunit\tvs gnet\tvs net/http\tbetter\truns\tnote")
	for _, r := range rep.Results {
		runs := make([]string, len(r.Runs))
		for i, v := range r.Runs {
			runs[i] = human(v)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Workload, r.Impl, r.Metric, human(r.Value), r.Unit,
			cell(r, "gnet"), cell(r, "net/http"), r.Better, strings.Join(runs, " "), r.Note)
	}
	tw.Flush()
	if len(rep.Ratios) > 0 {
		// Pairs other than against gnet and net/http (afxdp / asavie/xdp,
		// loadgen / wrk).
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		n := 0
		for _, r := range rep.Ratios {
			if r.To == "gnet" || r.To == "net/http" {
				continue
			}
			if n == 0 {
				fmt.Fprintln(tw, "workload\tmetric\tratio\tvalue\tbetter")
			}
			n++
			fmt.Fprintf(tw, "%s\t%s\t%s / %s\t%.2fx\t%s\n", r.Workload, r.Metric, r.Of, r.To, r.Value, r.Better)
		}
		tw.Flush()
	}
	if len(rep.Targets) > 0 {
		fmt.Fprintln(w)
		printTargets(w, rep.Targets)
	}
	fmt.Fprintln(w)
}

// human formats a figure with a k/M suffix.
func human(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}
