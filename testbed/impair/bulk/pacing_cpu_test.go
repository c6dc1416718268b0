package bulk

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/sluicenet/sluice/testbed"
)

// BenchmarkPacingCPU is issue 16's pacing check: examples/httpd's CPU
// time per request on the LAN keep-alive workload (wrk, one thread, 64
// connections, GET / of 13 octets, client on CPU 1, server on CPU 0) with -pacing and without, alternating, SLUICE_ROUNDS rounds [5] of
// SLUICE_DURATION [5s] each after a 1 s warm-up. The server's CPU time
// is the sum of its threads' run time (/proc/PID/task/*/schedstat). It
// reports the median over rounds of paced/unpaced CPU per request.
// Run by hand (root, wrk installed):
//
//	go test -run '^$' -bench PacingCPU -benchtime 1x ./testbed/impair/bulk/
func BenchmarkPacingCPU(b *testing.B) {
	testbed.Require(b)
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		b.Skip("wrk is not installed")
	}
	httpd := filepath.Join(b.TempDir(), "httpd")
	if out, err := exec.Command("go", "build", "-o", httpd, "github.com/sluicenet/sluice/examples/httpd").CombinedOutput(); err != nil {
		b.Fatalf("go build examples/httpd: %v\n%s", err, out)
	}
	if restore, err := setGroupNice(GroupNice); err == nil && restore != nil {
		defer restore()
	}
	bed, err := testbed.Create(testbed.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer bed.Close()
	rounds := envInt("SLUICE_ROUNDS", 5)
	dur := os.Getenv("SLUICE_DURATION")
	if dur == "" {
		dur = "5s"
	}
	addr := fmt.Sprintf("%v:8080", bed.Server.IPv4)
	var ratios []float64
	for range b.N {
		for r := range rounds {
			var per [2]float64 // µs per request, unpaced and paced
			for i, paced := range []bool{false, true} {
				per[i] = pacingRound(b, bed, httpd, wrk, addr, dur, paced)
			}
			ratios = append(ratios, per[1]/per[0])
			fmt.Printf("round %d: %.3f µs/request unpaced, %.3f paced, ratio %.3f\n", r, per[0], per[1], per[1]/per[0])
		}
	}
	slices.Sort(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "paced/unpaced-cpu")
}

// pacingRound serves addr with httpd (-pacing if paced) and returns its
// CPU time per request under wrk.
func pacingRound(b *testing.B, bed *testbed.Bed, httpd, wrk, addr, dur string, paced bool) float64 {
	args := []string{"netns", "exec", bed.Server.Name, httpd, "-iface", bed.Server.Link,
		"-listen", addr, "-queues", "1", "-cores", "0", "-size", "13"}
	if paced {
		args = append(args, "-pacing")
	}
	cmd := exec.Command("ip", args...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=2")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	url := "http://" + addr + "/"
	run := func(d string) int64 {
		out, err := exec.Command("ip", "netns", "exec", bed.Peer.Name, "taskset", "-c", "1", wrk, "-t1", "-c64", "-d"+d, url).CombinedOutput()
		if err != nil {
			b.Fatalf("wrk: %v\n%s", err, out)
		}
		m := wrkRequests.FindSubmatch(out)
		if m == nil {
			b.Fatalf("wrk printed no request count:\n%s", out)
		}
		n, _ := strconv.ParseInt(string(m[1]), 10, 64)
		return n
	}
	// httpd needs a moment to attach; the warm-up retries until it answers.
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := exec.Command("ip", "netns", "exec", bed.Peer.Name, wrk, "-t1", "-c1", "-d1s", url).CombinedOutput()
		if err == nil && wrkRequests.Match(out) && !wrkErrors.Match(out) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("httpd did not answer within 10 s:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// All of the server's threads on CPU 0, as the bench suite pins its
	// servers: one core against one.
	if out, err := exec.Command("taskset", "-a", "-p", "-c", "0", strconv.Itoa(cmd.Process.Pid)).CombinedOutput(); err != nil {
		b.Fatalf("taskset: %v\n%s", err, out)
	}
	run("1s")
	c0 := threadsRunTime(b, cmd.Process.Pid)
	n := run(dur)
	c1 := threadsRunTime(b, cmd.Process.Pid)
	return float64(c1-c0) / 1e3 / float64(n)
}

var (
	wrkRequests = regexp.MustCompile(`(\d+) requests in`)
	wrkErrors   = regexp.MustCompile(`Socket errors|Non-2xx`)
)

// threadsRunTime is the run time of all of pid's threads, nanoseconds.
func threadsRunTime(b *testing.B, pid int) int64 {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		b.Fatal(err)
	}
	var sum int64
	for _, e := range ents {
		buf, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, e.Name()))
		if err != nil {
			continue // the thread exited
		}
		var run int64
		if _, err := fmt.Sscan(string(buf), &run); err == nil {
			sum += run
		}
	}
	return sum
}

// envInt reads a positive integer from the environment.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
