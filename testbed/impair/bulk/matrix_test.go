package bulk_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/testbed"
	"github.com/sluicenet/sluice/testbed/impair"
	"github.com/sluicenet/sluice/testbed/impair/bulk"
)

func TestMain(m *testing.M) { testbed.Main(m) }

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkWANCell measures one cell of issue 16's matrix: sluice and
// Linux as the server, both with the congestion control SLUICE_CC names
// (cubic, bbr; Linux's TCP_CONGESTION of the same name), over a path of
// SLUICE_RTT_MS round trip (half each way), SLUICE_LOSS_PCT loss each
// way and a SLUICE_RATE_MBIT bottleneck with a SLUICE_QUEUE-frame
// queue; SLUICE_BULK_MIB per transfer, each repeated SLUICE_ROUNDS
// times (sluice and Linux alternating which goes first);
// SLUICE_NORMAL_PRIORITY=1 runs the rig without its raised priorities
// (RigOptions.NormalPriority); SLUICE_SNDBUF_MIB and SLUICE_RCVBUF_MIB
// override sluice's buffers (bulk.Config). Run by hand (root):
//
//	SLUICE_CC=bbr SLUICE_RTT_MS=20 SLUICE_LOSS_PCT=1 \
//	  go test -run '^$' -bench WANCell -benchtime 1x ./testbed/impair/bulk/
func BenchmarkWANCell(b *testing.B) {
	testbed.Require(b)
	b.ReportAllocs()
	cc := os.Getenv("SLUICE_CC")
	if cc == "" {
		cc = "cubic"
	}
	cfg := wanConfig()
	switch cc {
	case "cubic":
		cfg.CC = tcp.CUBIC
	case "bbr":
		cfg.CC = tcp.BBR
	case "reno":
		cfg.CC = tcp.NewReno
	default:
		b.Fatalf("SLUICE_CC %q", cc)
	}
	rtt := time.Duration(envInt("SLUICE_RTT_MS", 20)) * time.Millisecond
	imp := impair.Impairment{
		Loss:  float64(envInt("SLUICE_LOSS_PCT", 1)) / 100,
		Delay: rtt / 2,
		Rate:  int64(envInt("SLUICE_RATE_MBIT", 100)) * 1e6,
		Limit: envInt("SLUICE_QUEUE", 1000),
	}
	var rep bulk.Report
	for i := 0; i < b.N; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		var err error
		rep, err = bulk.MeasureThroughput(ctx, bulk.ThroughputOptions{
			Size: int64(envInt("SLUICE_BULK_MIB", 64)) << 20, Impairment: &imp,
			Seed: uint64(i + 1), LinuxCC: cc, TCP: cfg, Rounds: envInt("SLUICE_ROUNDS", 1),
			NormalPriority: os.Getenv("SLUICE_NORMAL_PRIORITY") != "",
		})
		cancel()
		if err != nil {
			b.Fatal(err)
		}
	}
	if rep.PriorityErr != nil {
		fmt.Printf("running at normal priority: %v\n", rep.PriorityErr)
	}
	// To stdout: the testing package cuts a benchmark's log after ten
	// lines.
	fmt.Printf("%s, RTT %v, loss %.0f%%, %d Mbit/s, queue %d frames\n%v\n%v\nto peer:   %v\nto server: %v\n",
		cc, rtt, imp.Loss*100, imp.Rate/1e6, imp.Limit, rep.Upload, rep.Download, rep.ToPeer, rep.ToServer)
	for _, r := range rep.Results {
		fmt.Println(r)
	}
	b.ReportMetric(rep.Upload.Ratio, "up-ratio")
	b.ReportMetric(rep.Download.Sluice/1e6, "down-sluice-MB/s")
	b.ReportMetric(rep.Download.Linux/1e6, "down-linux-MB/s")
	b.ReportMetric(rep.Download.Ratio, "down-ratio")
}

// BenchmarkWANQueue runs one download (server → Linux client) on its own
// rig, sluice or Linux as SLUICE_TARGET says, in the cell BenchmarkWANCell
// describes, and reports the queueing delay the transfer built in
// the middle forwarder: the median and 99th-percentile frame's wait for
// the bottleneck, and the largest queue in frames at its rate: the RTT
// inflation under load.
func BenchmarkWANQueue(b *testing.B) {
	testbed.Require(b)
	cc := os.Getenv("SLUICE_CC")
	if cc == "" {
		cc = "cubic"
	}
	cfg := wanConfig()
	if cc == "bbr" {
		cfg.CC = tcp.BBR
	}
	target := bulk.Sluice
	if os.Getenv("SLUICE_TARGET") == "linux" {
		target = bulk.Linux
	}
	rtt := time.Duration(envInt("SLUICE_RTT_MS", 20)) * time.Millisecond
	rate := int64(envInt("SLUICE_RATE_MBIT", 100)) * 1e6
	imp := impair.Impairment{
		Loss: float64(envInt("SLUICE_LOSS_PCT", 1)) / 100, Delay: rtt / 2,
		Rate: rate, Limit: envInt("SLUICE_QUEUE", 1000),
	}
	r, err := bulk.NewRig(bulk.RigOptions{Impair: impair.Both(1, imp), LinuxCC: cc, TCP: cfg,
		NormalPriority: os.Getenv("SLUICE_NORMAL_PRIORITY") != ""})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	if r.PriorityErr != nil {
		b.Logf("running at normal priority: %v", r.PriorityErr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	run0, wait0, err := r.LoopSchedStat()
	if err != nil {
		b.Fatal(err)
	}
	res, err := r.Transfer(ctx, target, bulk.Download, int64(envInt("SLUICE_BULK_MIB", 64))<<20, 1)
	if err != nil {
		b.Fatal(err)
	}
	run1, wait1, err := r.LoopSchedStat()
	if err != nil {
		b.Fatal(err)
	}
	toPeer, _ := r.Forwarder.Stats()
	qd := time.Duration(int64(toPeer.MaxQueue) * 1514 * 8 * int64(time.Second) / rate)
	b.Logf("%v %s: %v; queueing over a %v RTT: p50 %v, p99 %v, max %d frames = %v; sluice loop ran %v, waited for a CPU %v",
		target, cc, res, rtt, toPeer.QueueWaitP50, toPeer.QueueWaitP99, toPeer.MaxQueue, qd,
		(run1 - run0).Round(time.Millisecond), (wait1 - wait0).Round(time.Millisecond))
	b.ReportMetric(res.Rate()/1e6, "MB/s")
	b.ReportMetric(float64(toPeer.QueueWaitP50)/1e6, "queue-p50-ms")
	b.ReportMetric(float64(toPeer.QueueWaitP99)/1e6, "queue-p99-ms")
	b.ReportMetric(qd.Seconds()*1e3, "max-queue-ms")
}

// wanConfig is bulk.Config with SLUICE_SNDBUF_MIB / SLUICE_RCVBUF_MIB
// overriding its buffers.
func wanConfig() *tcp.Config {
	cfg := bulk.Config()
	cfg.SendBuffer = envInt("SLUICE_SNDBUF_MIB", cfg.SendBuffer>>20) << 20
	cfg.RecvBuffer = envInt("SLUICE_RCVBUF_MIB", cfg.RecvBuffer>>20) << 20
	return cfg
}
