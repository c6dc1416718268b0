// Command bench is sluice's benchmark suite. It builds its own testbed (two
// network namespaces joined by veth), runs each workload against every
// implementation in the same run, prints a table of absolute numbers and
// ratios, writes every figure to a JSON file, and removes the testbed.
//
//	sudo go run ./bench            # everything, default durations
//	sudo go run ./bench -short     # a quick pass (CI uses it to prove the suite runs)
//
// See bench/README.md for the method.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/sluicenet/sluice/testbed"
)

// Result is one measured figure.
type Result struct {
	Workload string    `json:"workload"`
	Impl     string    `json:"impl"`
	Metric   string    `json:"metric"`
	Value    float64   `json:"value"` // median of the runs
	Runs     []float64 `json:"runs"`
	Unit     string    `json:"unit"`
	Better   string    `json:"better"` // "higher" or "lower" is better
	Note     string    `json:"note,omitempty"`
}

// Report is the JSON document bench writes.
type Report struct {
	Started time.Time `json:"started"`
	Machine Machine   `json:"machine"`
	Short   bool      `json:"short"`
	Results []Result  `json:"results"`
	Ratios  []Ratio   `json:"ratios"`
}

// Ratio compares two implementations on one metric, measured in the same run.
type Ratio struct {
	Workload string  `json:"workload"`
	Metric   string  `json:"metric"`
	Of       string  `json:"of"`
	To       string  `json:"to"`
	Value    float64 `json:"value"`
	Better   string  `json:"better"`
}

type config struct {
	short      bool
	duration   time.Duration
	warmup     time.Duration
	runs       int
	workloads  string
	out        string
	serverCPU  int
	clientCPU  int
	conns      int // HTTP keep-alive and open-loop connections
	closeConns int // HTTP Connection: close connections in progress at once
}

func main() {
	var c config
	flag.BoolVar(&c.short, "short", false, "quick pass: short durations, one run each (proves the suite works; numbers are rough)")
	flag.DurationVar(&c.duration, "duration", 5*time.Second, "measured time per run")
	flag.DurationVar(&c.warmup, "warmup", 1*time.Second, "warm-up before each measured run")
	flag.IntVar(&c.runs, "runs", 3, "runs per figure; the median is reported")
	flag.StringVar(&c.workloads, "workloads", "reflector", "comma-separated workloads: "+strings.Join(workloadNames(), ","))
	flag.StringVar(&c.out, "out", "bench/out", "directory for results.json")
	flag.IntVar(&c.serverCPU, "server-cpu", 0, "CPU the server side is pinned to")
	flag.IntVar(&c.clientCPU, "client-cpu", 1, "CPU the load generator is pinned to")
	flag.IntVar(&c.conns, "conns", 64, "HTTP workloads: keep-alive connections of the load generator")
	flag.IntVar(&c.closeConns, "close-conns", 32, "HTTP close workload: connections in progress at once")
	flag.Parse()
	if c.short {
		c.duration, c.warmup, c.runs = time.Second, 200*time.Millisecond, 1
	}
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(c config) error {
	if err := testbed.Check(); err != nil {
		return fmt.Errorf("cannot build the testbed: %w", err)
	}
	if c.serverCPU >= runtime.NumCPU() || c.clientCPU >= runtime.NumCPU() {
		return fmt.Errorf("-server-cpu %d / -client-cpu %d: this machine has %d CPUs", c.serverCPU, c.clientCPU, runtime.NumCPU())
	}
	rep := Report{Started: time.Now().UTC(), Machine: describeMachine(), Short: c.short}
	for _, name := range strings.Split(c.workloads, ",") {
		w, ok := workloads[strings.TrimSpace(name)]
		if !ok {
			return fmt.Errorf("unknown workload %q (have %s)", name, strings.Join(workloadNames(), ", "))
		}
		res, err := w(c)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		rep.Results = append(rep.Results, res...)
	}
	rep.Ratios = ratios(rep.Results)
	printTable(os.Stdout, rep)
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	f := c.out + "/results.json"
	b, _ := json.MarshalIndent(rep, "", "  ")
	if err := os.WriteFile(f, b, 0o644); err != nil {
		return err
	}
	fmt.Println("wrote", f)
	return nil
}
