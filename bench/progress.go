package main

// Progress on stderr: one step per measured run, the total planned from
// the configuration before the first workload starts. On a terminal a bar
// redrawn in place; anywhere else (CI logs, a file, a pipe) one plain line
// per step, with no terminal escapes.

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

type progressBar struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool   // draw the bar in place (w is a terminal)
	cur   string // the step running: "workload-what"
	total int
	done  int
	start time.Time
}

var progress = &progressBar{w: os.Stderr, tty: isTerminal(os.Stderr)}

// isTerminal reports whether f is a terminal (TCGETS succeeds only on one).
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// workloadSteps counts the progress steps of workloads whose count is not
// runs × servers (the default); a workload registered from another file
// may add itself here in its init.
var workloadSteps = map[string]func(c config, servers int) int{
	"reflector": func(c config, _ int) int { return c.runs * len(reflectors()) },
	"sizes":     func(c config, servers int) int { return c.runs * servers * len(responseSizes) },
	"latency":   func(c config, servers int) int { return c.runs * servers * (2 + len(latencyLevels)) },
	"idle":      func(_ config, servers int) int { return servers },
	"churn":     func(_ config, servers int) int { return servers },
	"tls":       func(c config, _ int) int { return c.runs * len(tlsServers) },
	"proxy":     func(c config, _ int) int { return c.runs * len(proxyServers) },
}

// planProgress sets how many steps the selected workloads will take.
func planProgress(c config, names []string) {
	n := 0
	servers := len(httpServers)
	for _, name := range names {
		if f, ok := workloadSteps[name]; ok {
			n += f(c, servers)
		} else {
			n += c.runs * servers
		}
	}
	progress.mu.Lock()
	progress.total, progress.done, progress.start = n, 0, time.Now()
	progress.mu.Unlock()
}

// progressStep reports the step about to run.
func progressStep(workload, what string) {
	p := progress
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.total == 0 {
		return
	}
	p.done++
	p.cur = workload + "-" + what
	p.total = max(p.total, p.done) // a workload that took more steps than planned
	eta := ""
	if p.done > 1 {
		el := time.Since(p.start)
		left := el * time.Duration(p.total-p.done+1) / time.Duration(p.done-1)
		eta = fmt.Sprintf(" %s elapsed, ~%s left", el.Round(time.Second), left.Round(time.Second))
	}
	if !p.tty {
		fmt.Fprintf(p.w, "bench: %d/%d %s: %s%s\n", p.done, p.total, workload, what, eta)
		return
	}
	const width = 30
	fill := min(width, width*(p.done-1)/p.total)
	fmt.Fprintf(p.w, "\r\033[K[%s%s] %d/%d %s: %s%s", strings.Repeat("#", fill), strings.Repeat(".", width-fill),
		p.done, p.total, workload, what, eta)
}

// currentStep names the step running ("" before the first).
func currentStep() string {
	progress.mu.Lock()
	defer progress.mu.Unlock()
	return progress.cur
}

// progressEnd finishes the bar's line.
func progressEnd() {
	p := progress
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.total > 0 {
		took := time.Since(p.start).Round(time.Second)
		if p.tty {
			fmt.Fprintf(p.w, "\r\033[K[%s] %d steps in %s\n", strings.Repeat("#", 30), p.done, took)
		} else {
			fmt.Fprintf(p.w, "bench: %d steps in %s\n", p.done, took)
		}
	}
	p.total = 0
}
