package main

// A progress bar on stderr: one step per measured run, the total planned
// from the configuration before the first workload starts.

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

type progressBar struct {
	mu    sync.Mutex
	w     io.Writer
	total int
	done  int
	start time.Time
}

var progress = &progressBar{w: os.Stderr}

// planProgress sets how many steps the selected workloads will take.
func planProgress(c config, names []string) {
	n := 0
	servers := len(httpServers)
	for _, name := range names {
		switch name {
		case "reflector":
			n += c.runs * len(reflectors())
		case "keepalive", "close", "bulk", "xdpgen":
			n += c.runs * servers
		case "sizes":
			n += c.runs * servers * len(responseSizes)
		case "latency":
			n += c.runs * servers * (2 + len(latencyLevels))
		case "wrkcheck":
			n += c.runs * servers
		case "idle":
			n += servers
		}
	}
	progress.mu.Lock()
	progress.total, progress.done, progress.start = n, 0, time.Now()
	progress.mu.Unlock()
}

// progressStep draws the bar for the step about to run.
func progressStep(workload, what string) {
	p := progress
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.total == 0 {
		return
	}
	p.done++
	const width = 30
	fill := min(width, width*(p.done-1)/p.total)
	eta := ""
	if p.done > 1 {
		el := time.Since(p.start)
		left := el * time.Duration(p.total-p.done+1) / time.Duration(p.done-1)
		eta = fmt.Sprintf(" %s elapsed, ~%s left", el.Round(time.Second), left.Round(time.Second))
	}
	fmt.Fprintf(p.w, "\r\033[K[%s%s] %d/%d %s: %s%s", strings.Repeat("#", fill), strings.Repeat(".", width-fill),
		p.done, p.total, workload, what, eta)
}

// progressEnd finishes the bar's line.
func progressEnd() {
	p := progress
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.total > 0 {
		fmt.Fprintf(p.w, "\r\033[K[%s] %d steps in %s\n", strings.Repeat("#", 30), p.done, time.Since(p.start).Round(time.Second))
	}
	p.total = 0
}
