package bulk_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/sluicenet/sluice/sched"
	"github.com/sluicenet/sluice/testbed"
	"github.com/sluicenet/sluice/testbed/impair"
	"github.com/sluicenet/sluice/testbed/impair/bulk"
)

// BenchmarkWANDefault runs, per iteration, one upload and one download
// with each server (sluice with sched.DefaultTCPConfig, as the bench's
// wan workload; Linux, and the Linux client, with CUBIC; which goes
// first alternates) over a path of SLUICE_RTT_MS round trip and
// SLUICE_LOSS_PCT loss (and a SLUICE_RATE_MBIT bottleneck), SLUICE_BULK_MIB each, and prints each transfer,
// the sluice loop's CPU time and the same-run sluice/Linux goodput
// ratios. SLUICE_TRACE_MODE=U or D runs only that direction. With
// SLUICE_TRACE_DIR set it also captures the headers of each transfer
// (the last iteration's) at the Linux peer's veth into
// DIR/{sluice,linux}-{U,D}.pcap and at the middle namespace's link
// facing the server (before the forwarder) into ...-mid.pcap, for
// time-sequence analysis and per-hop delays. Run by hand (root; tcpdump
// for captures):
//
//	SLUICE_RTT_MS=20 SLUICE_BULK_MIB=8 \
//	  go test -run '^$' -bench WANDefault -benchtime 3x ./testbed/impair/bulk/
func BenchmarkWANDefault(b *testing.B) {
	testbed.Require(b)
	dir := os.Getenv("SLUICE_TRACE_DIR")
	if _, err := exec.LookPath("tcpdump"); dir != "" && err != nil {
		b.Skip("no tcpdump")
	}
	tc, err := sched.DefaultTCPConfig()
	if err != nil {
		b.Fatal(err)
	}
	rtt := time.Duration(envInt("SLUICE_RTT_MS", 20)) * time.Millisecond
	imp := impair.Impairment{Delay: rtt / 2, Loss: float64(envInt("SLUICE_LOSS_PCT", 0)) / 100}
	if mbit := envInt("SLUICE_RATE_MBIT", 0); mbit > 0 {
		// As the bench's wan cells: a queue of one BDP beyond the
		// frames the delay line holds.
		imp.Rate = int64(mbit) * 1e6
		imp.Limit = int(float64(imp.Rate)/8*(rtt/2+rtt).Seconds()/1514) + 64
	}
	r, err := bulk.NewRig(bulk.RigOptions{TCP: tc, LinuxCC: "cubic", Impair: impair.Both(1, imp)})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	size := int64(envInt("SLUICE_BULK_MIB", 8)) << 20
	for i := 0; i < b.N; i++ {
		for _, mode := range []byte{bulk.Upload, bulk.Download} {
			if m := os.Getenv("SLUICE_TRACE_MODE"); m != "" && m[0] != mode {
				continue
			}
			targets := []bulk.Target{bulk.Sluice, bulk.Linux}
			if i%2 == 1 {
				targets = []bulk.Target{bulk.Linux, bulk.Sluice}
			}
			var rate [2]float64
			for _, target := range targets {
				if err := r.Reimpair(impair.Both(uint64(i+1), imp)); err != nil {
					b.Fatal(err)
				}
				res, err := traceTransfer(r, dir, target, mode, size, uint64(i+1))
				if err != nil {
					b.Fatal(err)
				}
				rate[target] = res.Rate()
				fmt.Println(res)
			}
			fmt.Printf("round %d %c RTT %v: sluice/Linux %.3f\n", i, mode, rtt, rate[bulk.Sluice]/rate[bulk.Linux])
		}
	}
}

// traceTransfer is Rig.Transfer with, when dir is set, tcpdump capturing
// the peer's side of it.
func traceTransfer(r *bulk.Rig, dir string, target bulk.Target, mode byte, size int64, seed uint64) (bulk.Result, error) {
	if dir != "" {
		// The peer's veth, and the middle namespace's link facing the
		// server (what the server sent, before the forwarder).
		for _, at := range [][3]string{{r.Bed.Peer.Name, r.Bed.Peer.Link, ""}, {r.Bed.Middle.Name, r.Bed.Middle.ServerSide.Link, "-mid"}} {
			cmd := exec.Command("ip", "netns", "exec", at[0],
				"tcpdump", "-q", "-i", at[1], "-s", "96", "-w", fmt.Sprintf("%s/%v-%c%s.pcap", dir, target, mode, at[2]), "tcp")
			if err := cmd.Start(); err != nil {
				return bulk.Result{}, err
			}
			defer func() {
				cmd.Process.Signal(os.Interrupt)
				cmd.Wait()
			}()
		}
		defer time.Sleep(500 * time.Millisecond) // the last frames captured
		time.Sleep(time.Second)                  // tcpdump attached
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	run0, wait0, _ := r.LoopSchedStat()
	res, err := r.Transfer(ctx, target, mode, size, seed)
	run1, wait1, _ := r.LoopSchedStat()
	fmt.Printf("%v %c: sluice loop ran %v, waited %v\n", target, mode, (run1 - run0).Round(time.Millisecond), (wait1 - wait0).Round(time.Millisecond))
	return res, err
}
