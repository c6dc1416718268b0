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
	"github.com/sluicenet/sluice/tcp/timewait"
	"os"
	"runtime"
	"strings"
	"syscall"
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
	Config  string    `json:"config"` // the flags of the run
	Rig     string    `json:"rig"`    // where each side's receive work ran (rig.go)
	Elapsed string    `json:"elapsed"`
	Results []Result  `json:"results"`
	Ratios  []Ratio   `json:"ratios"`
	Targets []Target  `json:"targets"`
	Plots   []string  `json:"plots,omitempty"`
	// Profiles are the CPU profiles written (profile.go); ProfileNote
	// says what could not be (no perf, no graphviz).
	Profiles    []string `json:"profiles,omitempty"`
	ProfileNote string   `json:"profile_note,omitempty"`
}

// Ratio compares two implementations on one metric, measured in the same run.
type Ratio struct {
	Workload string  `json:"workload"`
	Metric   string  `json:"metric"`
	Of       string  `json:"of"`
	To       string  `json:"to"`
	Value    float64 `json:"value"`
	// Rounds are the per-round ratios (run i of Of / run i of To); Value
	// is their median (report.go pairedRatio).
	Rounds []float64 `json:"rounds,omitempty"`
	Better string    `json:"better"`
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
	idleConns  int // idle workload: connections held open per server
	noPlots    bool
	servers    string // comma-separated kinds of httpServers to run ("" all)
	rig        string // where each side's network stack runs: rigs (rig.go)
	profile    bool   // CPU profiles of each step's first window (profile.go)
	// The raw-frame connection generator (connraw.go): connections in
	// progress at once, and the churn workload's window.
	rawSlots      int
	churnDuration time.Duration
	churnTWMax    int
	churnPace     float64 // new connections a second in churn; 0: full rate
	// genPoll: the kernel generator's receive path in closed-loop runs
	// of the workloads that set genPollHere (genpoll.go, workloads.go).
	genPoll     genPoll
	genPollHere bool
	genURing    bool // with genPoll: receives and sends batched through io_uring
}

func main() {
	var c config
	flag.BoolVar(&c.short, "short", false, "quick pass: short durations, one run each (proves the suite works; numbers are rough)")
	flag.DurationVar(&c.duration, "duration", 2500*time.Millisecond, "measured time per run")
	flag.DurationVar(&c.warmup, "warmup", 1*time.Second, "warm-up before each measured run")
	flag.IntVar(&c.runs, "runs", 3, "runs per figure; the median is reported")
	flag.StringVar(&c.workloads, "workloads", strings.Join(defaultWorkloads, ","), "comma-separated workloads: "+strings.Join(workloadNames(), ","))
	flag.StringVar(&c.out, "out", "bench/out", "directory for results.json and the plots")
	flag.IntVar(&c.serverCPU, "server-cpu", 0, "CPU the server side is pinned to")
	flag.IntVar(&c.clientCPU, "client-cpu", 1, "CPU the load generator is pinned to")
	flag.IntVar(&c.conns, "conns", 64, "HTTP workloads: keep-alive connections of the load generator")
	flag.IntVar(&c.closeConns, "close-conns", 32, "HTTP close workload: connections in progress at once")
	flag.IntVar(&c.idleConns, "idle-conns", 100000, "idle workload: connections held open per server")
	flag.IntVar(&c.rawSlots, "raw-slots", 256, "closeraw and churn: connections the raw-frame generator keeps in progress at once")
	flag.DurationVar(&c.churnDuration, "churn-duration", time.Minute, "churn: the measured window of TIME-WAIT churn per server")
	flag.Float64Var(&c.churnPace, "churn-rate", churnRate*1.02, "churn: new connections a second the generator offers, paced (default: the 100k/s target plus 2%, so a second the server keeps up with counts; 0: full rate)")
	flag.IntVar(&c.churnTWMax, "churn-tw-max", timewait.MaxLimit, "churn: net.ipv4.tcp_max_tw_buckets of the server namespace, every server's TIME-WAIT bound (default: the most one sluice loop holds; 0: the namespace's default)")
	flag.BoolVar(&c.noPlots, "no-plots", false, "do not draw the PNG/SVG plots")
	flag.StringVar(&c.servers, "servers", "", "HTTP workloads: comma-separated servers to run, of "+strings.Join(serverKinds(), ",")+" (default all)")
	flag.StringVar(&c.rig, "rig", "napi", "HTTP workloads: napi (each veth end's receive work in a NAPI thread on its own side's CPU, counted as the server's) or softirq (veth's default: on the sender's CPU)")
	flag.BoolVar(&c.profile, "profile", true, "CPU profiles (pprof; perf where installed) of each server's first measured window per workload, SVG where graphviz is installed; off with -short unless given")
	flag.IntVar(&napiDefer.deferIRQs, "napi-defer", 0, "sluice's Config.NAPIDeferHardIRQs (defer-hard-irqs of the server link's NAPI; 0: sluice's default) and gnet-defer's")
	flag.DurationVar(&napiDefer.flush, "napi-flush", 0, "sluice's Config.NAPIFlushTimeout (gro-flush-timeout; 0: sluice's default) and gnet-defer's")
	c.genPoll = genPollDefault
	flag.Var(&c.genPoll, "gen-poll", "kernel generator, closed-loop runs on the napi rig: off, or defer,flush,suspend,busy: the peer NAPI's defer-hard-irqs, gro-flush-timeout and irq-suspend-timeout and the generator's epoll busy-poll time (genpoll.go)")
	flag.BoolVar(&c.genURing, "gen-uring", true, "with -gen-poll: the kernel generator submits each epoll_wait's receives, and the requests they let go out, with one io_uring_enter each")
	flag.Parse()
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if c.short {
		// Flags given explicitly win over -short's choices.
		if !set["duration"] {
			c.duration = 500 * time.Millisecond
		}
		if !set["warmup"] {
			c.warmup = 200 * time.Millisecond
		}
		if !set["runs"] {
			c.runs = 1
		}
		if !set["profile"] {
			c.profile = false
		}
		if !set["idle-conns"] {
			c.idleConns = 2000
		}
		if !set["churn-duration"] {
			c.churnDuration = 2 * time.Second
		}
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
	if err := checkRig(c.rig); err != nil {
		return err
	}
	if err := selectServers(c.servers); err != nil {
		return err
	}
	raiseFileLimit(c.idleConns)
	rep := Report{Started: time.Now().UTC(), Machine: describeMachine(), Short: c.short, Config: fmt.Sprintf("%+v", c)}
	var names []string
	for _, name := range strings.Split(c.workloads, ",") {
		name = strings.TrimSpace(name)
		if _, ok := workloads[name]; !ok {
			return fmt.Errorf("unknown workload %q (have %s)", name, strings.Join(workloadNames(), ", "))
		}
		names = append(names, name)
	}
	planProgress(c, names)
	for _, name := range names {
		res, err := workloads[name](c)
		if err != nil {
			progressEnd()
			return fmt.Errorf("%s: %w", name, err)
		}
		rep.Results = append(rep.Results, res...)
	}
	progressEnd()
	rep.Ratios = ratios(rep.Results)
	rep.Targets = evalTargets(rep.Results)
	rep.Elapsed = time.Since(rep.Started).Round(time.Second).String()
	rep.Rig = rigName(c)
	rep.Machine.LoadEnd = loadAvg()
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	if !c.noPlots {
		files, err := writePlots(c.out, rep)
		if err != nil {
			return fmt.Errorf("plots: %w", err)
		}
		rep.Plots = files
	}
	rep.Profiles, rep.ProfileNote = profilesWritten()
	printTable(os.Stdout, rep)
	f := c.out + "/results.json"
	b, _ := json.MarshalIndent(rep, "", "  ")
	if err := os.WriteFile(f, b, 0o644); err != nil {
		return err
	}
	fmt.Printf("wrote %s and %d plots in %s; took %s\n", f, len(rep.Plots), c.out, rep.Elapsed)
	if c.profile {
		fmt.Printf("%d profile files in %s/profiles", len(rep.Profiles), c.out)
		if rep.ProfileNote != "" {
			fmt.Printf(" (%s)", rep.ProfileNote)
		}
		fmt.Println()
	}
	return nil
}

// raiseFileLimit lets this process (the idle workload's client sockets)
// and the server children it starts (they inherit it) hold the idle
// connections. syscall.Setrlimit, unlike an automatic raise, is what the
// children inherit.
func raiseFileLimit(conns int) {
	want := uint64(conns + 10000)
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) != nil || l.Cur >= want {
		return
	}
	l.Cur = want
	if l.Max < want {
		l.Max = want // root may raise the hard limit up to fs.nr_open
	}
	if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l) != nil {
		fmt.Fprintf(os.Stderr, "bench: cannot raise the open-file limit to %d; the idle workload may open fewer connections\n", want)
	}
}
