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
// ratios. SLUICE_TRACE_MODE=U or D runs only that direction;
// SLUICE_SEED is the first round's loss seed (then +1 per round; the
// bench's wan workload gives round r of its cell i 1+i+1000r);
// SLUICE_NORMAL_PRIO=1 runs the rig at normal priorities
// (RigOptions.NormalPriority). With SLUICE_TRACE_DIR set it also
// captures the headers of each transfer at the Linux peer's veth into
// DIR/{sluice,linux}-{U,D}-ITER.pcap and at the middle namespace's links
// facing the server (...-mid.pcap: after the forwarder toward the
// server, before it toward the peer) and the peer (...-in.pcap), for
// time-sequence analysis and per-hop delays (frames carry no mark, so
// match them by sequence and acknowledgment numbers); the client
// socket's `ss -tin` every 50 ms into ...-ITER.ss; and the peer
// namespace's nstat deltas (HyStart exits, retransmissions), the middle
// and server links' counters, the forwarder's and the sluice group's
// stats after the transfer into ...-ITER.nstat. Run by hand (root;
// tcpdump for captures):
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
	r, err := bulk.NewRig(bulk.RigOptions{TCP: tc, LinuxCC: "cubic", Impair: impair.Both(1, imp),
		NormalPriority: os.Getenv("SLUICE_NORMAL_PRIO") != ""})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	size := int64(envInt("SLUICE_BULK_MIB", 8)) << 20
	seed := uint64(envInt("SLUICE_SEED", 1))
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
				if err := r.Reimpair(impair.Both(seed+uint64(i), imp)); err != nil {
					b.Fatal(err)
				}
				res, err := traceTransfer(r, dir, i, target, mode, size, seed+uint64(i))
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
func traceTransfer(r *bulk.Rig, dir string, iter int, target bulk.Target, mode byte, size int64, seed uint64) (bulk.Result, error) {
	if dir != "" {
		// The client's socket state every 50 ms (cwnd, ssthresh,
		// retransmissions, RTT) and the peer namespace's counters
		// (HyStart exits, retransmissions) around the transfer.
		exec.Command("ip", "netns", "exec", r.Bed.Peer.Name, "nstat", "-n").Run()
		ssf, err := os.Create(fmt.Sprintf("%s/%v-%c-%d.ss", dir, target, mode, iter))
		if err != nil {
			return bulk.Result{}, err
		}
		stopSS := make(chan struct{})
		doneSS := make(chan struct{})
		go func() {
			defer close(doneSS)
			defer ssf.Close()
			t0 := time.Now()
			for {
				select {
				case <-stopSS:
					return
				case <-time.After(50 * time.Millisecond):
				}
				out, _ := exec.Command("ip", "netns", "exec", r.Bed.Peer.Name, "ss", "-tinH", "state", "established").Output()
				fmt.Fprintf(ssf, "T %.3f\n%s", time.Since(t0).Seconds(), out)
			}
		}()
		defer func() {
			close(stopSS)
			<-doneSS
			out, _ := exec.Command("ip", "netns", "exec", r.Bed.Peer.Name, "nstat").Output()
			for _, c := range [][]string{{r.Bed.Middle.Name, "tc", "-s", "qdisc"}, {r.Bed.Middle.Name, "ip", "-s", "link"},
				{r.Bed.Server.Name, "ip", "-s", "link"}, {r.Bed.Server.Name, "ethtool", "-S", r.Bed.Server.Link}} {
				o, _ := exec.Command("ip", append([]string{"netns", "exec"}, c...)...).CombinedOutput()
				out = append(append(out, fmt.Sprintf("== %v\n", c)...), o...)
			}
			tp, ts := r.Forwarder.Stats()
			out = append(out, fmt.Sprintf("== forwarder toPeer %+v\ntoServer %+v\n", tp, ts)...)
			if target == bulk.Sluice {
				gs, _ := r.Group.Stats()
				out = append(out, fmt.Sprintf("== group %+v\n", gs)...)
			}
			os.WriteFile(fmt.Sprintf("%s/%v-%c-%d.nstat", dir, target, mode, iter), out, 0o644)
		}()
		// The peer's veth, and the middle namespace's link facing the
		// server (what the server sent, before the forwarder).
		for _, at := range [][3]string{{r.Bed.Peer.Name, r.Bed.Peer.Link, ""}, {r.Bed.Middle.Name, r.Bed.Middle.ServerSide.Link, "-mid"}, {r.Bed.Middle.Name, r.Bed.Middle.PeerSide.Link, "-in"}} {
			cmd := exec.Command("ip", "netns", "exec", at[0],
				"tcpdump", "-q", "-i", at[1], "-s", "96", "-w", fmt.Sprintf("%s/%v-%c-%d%s.pcap", dir, target, mode, iter, at[2]), "tcp")
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
