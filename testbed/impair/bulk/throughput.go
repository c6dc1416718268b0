package bulk

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/testbed/impair"
)

// ThroughputOptions shape MeasureThroughput.
type ThroughputOptions struct {
	// Size is the octets of each transfer [64 MiB].
	Size int64
	// Impairment applies to both directions [Loss 1%, Delay 10 ms: the
	// issue's benchmark condition; the round trip is then at least 20 ms].
	Impairment *impair.Impairment
	// Seed seeds the forwarder and the streams [1].
	Seed uint64
	// Rounds is how many times each of the four transfers runs,
	// alternating sluice and Linux so slow drift in the machine's load
	// hits both alike [1].
	Rounds int
	// Cores pins the sluice loop [nil: sched's default].
	Cores []int
	// LinuxCC is the Linux server's congestion control ["cubic", the same
	// algorithm as sluice's default, so the ratio compares stacks, not
	// algorithms; "-" keeps the host's default, BBR on this testbed host].
	LinuxCC string
	// TCP is sluice's engine configuration [Config()]; its CC field picks
	// sluice's congestion control.
	TCP *tcp.Config
	// NormalPriority is RigOptions.NormalPriority.
	NormalPriority bool
}

// BenchmarkImpairment is the benchmark condition: 1% loss and
// 10 ms delay, each way.
var BenchmarkImpairment = impair.Impairment{Loss: 0.01, Delay: 10 * time.Millisecond}

// Throughput compares one direction's goodput.
type Throughput struct {
	Mode   byte    // Upload (Linux client → server) or Download (server → Linux client)
	Sluice float64 // octets per second, sluice as the server
	Linux  float64 // octets per second, Linux as the server
	// Ratio is Sluice/Linux: 1 is parity, 0.8 the target floor.
	Ratio float64
}

func (t Throughput) String() string {
	return fmt.Sprintf("%c: sluice %.1f MB/s, linux %.1f MB/s, ratio %.2f", t.Mode, t.Sluice/1e6, t.Linux/1e6, t.Ratio)
}

// Report is what MeasureThroughput found.
type Report struct {
	Upload, Download Throughput
	Results          []Result     // every transfer, in the order run
	ToPeer, ToServer impair.Stats // the forwarder's counters at the end
	Options          ThroughputOptions
	Elapsed          time.Duration
	PriorityErr      error // Rig.PriorityErr
}

// MeasureThroughput builds a Rig under the given impairment and measures
// verified transfers each way, with sluice and with Linux as the server,
// through the same forwarder in the same run. Each transfer is a fresh
// connection (slow start included), as a benchmark's client would make.
// It needs root (see testbed.Check) and removes everything it made.
func MeasureThroughput(ctx context.Context, o ThroughputOptions) (rep Report, err error) {
	if o.Size <= 0 {
		o.Size = 64 << 20
	}
	if o.Impairment == nil {
		o.Impairment = &BenchmarkImpairment
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Rounds <= 0 {
		o.Rounds = 1
	}
	switch o.LinuxCC {
	case "":
		o.LinuxCC = "cubic"
	case "-":
		o.LinuxCC = ""
	}
	rep.Options = o
	start := time.Now()
	r, err := NewRig(RigOptions{Impair: impair.Both(o.Seed, *o.Impairment), Cores: o.Cores, LinuxCC: o.LinuxCC, TCP: o.TCP, NormalPriority: o.NormalPriority})
	if err != nil {
		return rep, err
	}
	rep.PriorityErr = r.PriorityErr
	defer func() {
		if cerr := r.Close(); err == nil {
			err = cerr
		}
	}()
	var octets, took [2][2]float64 // [mode][target]
	for round := range o.Rounds {
		for mi, mode := range []byte{Upload, Download} {
			targets := []Target{Sluice, Linux}
			if round%2 == 1 {
				targets = []Target{Linux, Sluice}
			}
			for _, target := range targets {
				res, err := r.Transfer(ctx, target, mode, o.Size, o.Seed+uint64(round))
				if err != nil {
					return rep, err
				}
				rep.Results = append(rep.Results, res)
				octets[mi][target] += float64(res.Octets)
				took[mi][target] += res.Elapsed.Seconds()
			}
		}
	}
	for mi, t := range []*Throughput{&rep.Upload, &rep.Download} {
		t.Mode = []byte{Upload, Download}[mi]
		t.Sluice = octets[mi][Sluice] / took[mi][Sluice]
		t.Linux = octets[mi][Linux] / took[mi][Linux]
		t.Ratio = t.Sluice / t.Linux
	}
	rep.ToPeer, rep.ToServer = r.Forwarder.Stats()
	rep.Elapsed = time.Since(start)
	return rep, nil
}
