package main

// wrkcheck checks the load generator against wrk (github.com/wg/wrk): the
// same server, the same connections, one thread each on the client CPU,
// keep-alive GET. If the two agree (within 10% is the aim), the
// generator's throughput figures are as good as wrk's; if the generator is
// well below, it is the bottleneck and the server comparisons are capped.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sluicenet/sluice/bench/loadgen"
	"github.com/sluicenet/sluice/testbed"
)

func wrkAvailable() bool {
	_, err := exec.LookPath("wrk")
	return err == nil
}

func wrkCheckWorkload(c config) ([]Result, error) {
	if !wrkAvailable() {
		return nil, errors.New("wrk is not installed (apt-get install wrk); the check needs it")
	}
	f := &figures{workload: "wrkcheck"}
	err := eachRun(c, c.runs, func(bed *testbed.Bed, s httpServer, srv *serverProc) error {
		progressStep("wrkcheck", s.name)
		metric := "requests/s → " + s.name
		m, err := measureHTTP(c, bed, srv, loadgen.Config{Mode: loadgen.KeepAlive, Conns: c.conns, WantLength: helloLength})
		if err != nil {
			return err
		}
		f.add("loadgen", metric, "req/s", higher, m.res.PerSecond(m.res.Requests))
		f.errors("loadgen", m)
		rps, note, err := runWrk(c, bed, srv)
		if err != nil {
			return err
		}
		r := f.add("wrk", metric, "req/s", higher, rps)
		r.Note = joinNote(r.Note, note)
		return nil
	})
	return f.results(), err
}

// runWrk runs wrk in the peer namespace pinned to the client CPU (taskset)
// for the measured duration, rounded up to whole seconds (wrk's -d unit),
// with the generator's connection count and one thread per load CPU. The
// generator's warm-up just before has warmed the server. The note reports
// what wrk counted as errors.
func runWrk(c config, bed *testbed.Bed, srv *serverProc) (float64, string, error) {
	secs := int(math.Ceil(c.duration.Seconds()))
	cpus := loadCPUs(c)
	var list []string
	for _, cpu := range cpus {
		list = append(list, strconv.Itoa(cpu))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs)*time.Second+30*time.Second)
	defer cancel()
	cmd := bed.Peer.Command(ctx, "taskset", "-c", strings.Join(list, ","), "wrk",
		"-t", strconv.Itoa(len(cpus)), "-c", strconv.Itoa(max(c.conns, len(cpus))),
		"-d", fmt.Sprintf("%ds", secs), "http://"+srv.addr.String()+"/")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, "", fmt.Errorf("wrk: %w: %s", err, out)
	}
	return parseWrk(string(out))
}

var (
	wrkRPS     = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkNon2xx  = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
	wrkSockErr = regexp.MustCompile(`Socket errors:[^\n]*`)
)

// parseWrk reads requests/s and any errors from wrk's report.
func parseWrk(out string) (float64, string, error) {
	m := wrkRPS.FindStringSubmatch(out)
	if m == nil {
		return 0, "", fmt.Errorf("no Requests/sec in wrk's output: %s", out)
	}
	rps, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, "", err
	}
	var notes []string
	if n := wrkNon2xx.FindStringSubmatch(out); n != nil {
		notes = append(notes, "wrk: non-2xx="+n[1])
	}
	if s := wrkSockErr.FindString(out); s != "" {
		notes = append(notes, "wrk: "+strings.TrimSpace(s))
	}
	return rps, strings.Join(notes, "; "), nil
}
