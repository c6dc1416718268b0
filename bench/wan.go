package main

// The wan workload: sluice on the paths real clients sit on, through a
// testbed/impair forwarder in a middle namespace (no netem here), with
// sluice's default configuration against the Linux stack on the same
// wire in the same run.
//
//	bulk     64 MiB each way (upload: Linux client → server; download:
//	         server → client) at RTT 20 and 100 ms, lossless and 1% loss
//	         (8 MiB at 20 ms, 4 MiB at 100 ms: wanSize), unlimited and
//	         100 Mbit/s: goodput of sluice (sched.Group with the default
//	         tcp.Config) and of a Go server on kernel TCP with CUBIC
//	         (testbed/impair/bulk; the Linux clients, an upload's sender,
//	         run CUBIC too), in rounds, and the median of the per-round
//	         ratios with how many rounds met issue 13's target (>= 1 in
//	         every cell, both ways).
//	clients  100 clients fetching a 1 MiB response at once at RTT 50 ms:
//	         completion time p50/p99 of sluice's httpd against net/http,
//	         each the bench's usual server child.
//
// The bulk matrix runs 5 rounds (SLUICE_WAN_ROUNDS overrides). -short
// runs one round of RTT 20 ms lossless and 1% loss, unlimited, with
// 4 MiB transfers, and 20 clients. SLUICE_WAN_RTTS (milliseconds, comma
// separated, e.g. "20,100") replaces the matrix by those RTTs, lossless
// and 1% loss, unlimited; SLUICE_WAN_PART=bulk or clients runs only that
// half; SLUICE_WAN_MIB sets the lossless cells' transfer size and
// SLUICE_WAN_LOSS_MIB the lossy cells'.

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicenet/sluice/sched"
	"github.com/sluicenet/sluice/testbed"
	"github.com/sluicenet/sluice/testbed/impair"
	"github.com/sluicenet/sluice/testbed/impair/bulk"
)

func init() {
	workloads["wan"] = wanWorkload
	defaultWorkloads = append(defaultWorkloads, "wan")
	workloadSteps["wan"] = func(c config, _ int) int {
		n := 2 // the clients half: one step per server
		switch os.Getenv("SLUICE_WAN_PART") {
		case "bulk":
			n = 0
		case "clients":
			return n
		}
		return n + wanRounds(c)*len(wanCells(c.short))*2*2 // both directions, both servers
	}
}

// wanCell is one path condition of the bulk matrix.
type wanCell struct {
	rtt  time.Duration
	loss float64
	rate int64 // bits per second; 0 is unlimited
}

func (w wanCell) String() string {
	s := fmt.Sprintf("RTT %dms loss %g%%", w.rtt.Milliseconds(), w.loss*100)
	if w.rate > 0 {
		s += fmt.Sprintf(" %d Mbit/s", w.rate/1e6)
	}
	return s
}

// impairment is the cell's condition on each direction: half the RTT each
// way, and with a rate, a queue of one bandwidth-delay product beyond the
// frames the delay line holds (a bounded bottleneck buffer).
func (w wanCell) impairment() impair.Impairment {
	i := impair.Impairment{Loss: w.loss, Delay: w.rtt / 2, Rate: w.rate}
	if w.rate > 0 {
		i.Limit = int(float64(w.rate)/8*(w.rtt/2+w.rtt).Seconds()/1514) + 64
	}
	return i
}

func wanCells(short bool) []wanCell {
	if list := os.Getenv("SLUICE_WAN_RTTS"); list != "" {
		var cells []wanCell
		for _, f := range strings.Split(list, ",") {
			ms, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || ms <= 0 {
				continue
			}
			rtt := time.Duration(ms) * time.Millisecond
			cells = append(cells, wanCell{rtt: rtt}, wanCell{rtt: rtt, loss: 0.01})
		}
		if len(cells) > 0 {
			return cells
		}
	}
	if short {
		return []wanCell{{rtt: 20 * time.Millisecond}, {rtt: 20 * time.Millisecond, loss: 0.01}}
	}
	var cells []wanCell
	for _, rtt := range []time.Duration{20 * time.Millisecond, 100 * time.Millisecond} {
		for _, loss := range []float64{0, 0.01} {
			for _, rate := range []int64{0, 100e6} {
				cells = append(cells, wanCell{rtt: rtt, loss: loss, rate: rate})
			}
		}
	}
	return cells
}

func wanWorkload(c config) ([]Result, error) {
	f := &figures{workload: "wan"}
	part := os.Getenv("SLUICE_WAN_PART") // "bulk" or "clients": only that half
	if part != "clients" {
		if err := wanBulk(c, f); err != nil {
			return nil, err
		}
	}
	if part != "bulk" {
		if err := wanClients(c, f); err != nil {
			return nil, err
		}
	}
	return f.results(), nil
}

// wanBulk runs the bulk matrix on one rig in rounds: each round moves
// every cell's transfers once with each server (which goes first
// alternates by cell and round), restarting the forwarder before each
// transfer with that cell's and round's seed, so both servers meet the
// same loss draws within a round. A cell's ratio is the median of its
// per-round ratios; its note says how many rounds met the target.
func wanBulk(c config, f *figures) error {
	tc, err := sched.DefaultTCPConfig() // what sluice.Config{} gives a loop
	if err != nil {
		return err
	}
	cells := wanCells(c.short)
	rig, err := bulk.NewRig(bulk.RigOptions{TCP: tc, LinuxCC: "cubic",
		Impair: impair.Both(1, cells[0].impairment()), Cores: []int{c.serverCPU}})
	if err != nil {
		return err
	}
	defer rig.Close()
	impls := map[bulk.Target]string{bulk.Sluice: "sluice", bulk.Linux: "Linux TCP"}
	dirs := map[byte]string{bulk.Upload: "upload", bulk.Download: "download"}
	retrans := map[string][]string{} // sluice's retransmits/RTOs by metric, per round
	for round := range wanRounds(c) {
		for i, cell := range cells {
			size, timeout := wanSize(c, cell)
			for _, mode := range []byte{bulk.Upload, bulk.Download} {
				targets := []bulk.Target{bulk.Sluice, bulk.Linux}
				if (i+round)%2 == 1 {
					targets = []bulk.Target{bulk.Linux, bulk.Sluice} // drift hits both alike
				}
				metric := fmt.Sprintf("MB/s %s %v", dirs[mode], cell)
				var rate [2]float64
				for _, target := range targets {
					progressStep("wan", fmt.Sprintf("round %d %s %s %v", round+1, impls[target], dirs[mode], cell))
					// Both servers meet the same loss draws (Rig.Reimpair).
					seed := uint64(1 + i + 1000*round)
					if err := rig.Reimpair(impair.Both(seed, cell.impairment())); err != nil {
						return fmt.Errorf("wan %v: forwarder: %w", cell, err)
					}
					ctx, cancel := context.WithTimeout(context.Background(), timeout)
					res, err := rig.Transfer(ctx, target, mode, size, uint64(100+i))
					cancel()
					if err != nil {
						r := f.add(impls[target], "failed transfers", "count", lower, 1)
						r.Note = joinNote(r.Note, fmt.Sprintf("round %d %s: %v", round+1, metric, err))
						continue
					}
					rate[target] = res.Rate()
					r := f.add(impls[target], metric, "MB/s", higher, res.Rate()/1e6)
					r.Note = fmt.Sprintf("%d MiB, sha256 equal on both ends, Linux client on CUBIC", size>>20)
					if t := res.TCP; t != nil {
						retrans[metric] = append(retrans[metric], fmt.Sprintf("%d/%d", t.Retransmits, t.RTOExpiries))
					}
				}
				if rate[bulk.Sluice] > 0 && rate[bulk.Linux] > 0 {
					f.add("sluice", fmt.Sprintf("sluice/Linux %s %v", dirs[mode], cell), "×", higher,
						rate[bulk.Sluice]/rate[bulk.Linux])
				}
			}
		}
	}
	wanNotes(f, retrans)
	return nil
}

// wanNotes adds to sluice's goodput rows its retransmits and RTOs by
// round (retrans, by metric) and to each ratio row how many of its
// rounds met the target.
func wanNotes(f *figures, retrans map[string][]string) {
	for i := range f.out {
		r := &f.out[i]
		if n := retrans[r.Metric]; r.Impl == "sluice" && len(n) > 0 {
			r.Note += "; retransmits/RTOs by round " + strings.Join(n, " ")
		}
		if strings.HasPrefix(r.Metric, "sluice/Linux ") {
			met := 0
			for _, v := range r.Runs {
				if v >= 1 {
					met++
				}
			}
			r.Note = fmt.Sprintf("goodput ratio, median of per-round ratios; %d of %d rounds >= 1 (target >= 1)", met, len(r.Runs))
		}
	}
}

// wanRounds is the number of rounds of the bulk matrix: 5 (1 with
// -short) unless SLUICE_WAN_ROUNDS says otherwise. A round of the whole
// matrix takes about 5 minutes here (4 of them in the 1%-loss cells), so
// the workload stays near half an hour; with 5 rounds the median stands
// even when two rounds of a cell are outliers (one transfer's HyStart
// exit on a queueing spike moves a 20 ms lossless ratio by 0.3).
func wanRounds(c config) int {
	if n, err := strconv.Atoi(os.Getenv("SLUICE_WAN_ROUNDS")); err == nil && n > 0 {
		return n
	}
	if c.short {
		return 1
	}
	return 5
}

// wanSize is the transfer size of a cell and the time one transfer may
// take. Lossless cells move 64 MiB (4 MiB with -short; SLUICE_WAN_MIB).
// At 1% loss CUBIC moves about MSS/RTT × 1.22/√p (Mathis): 0.9 MB/s at
// 20 ms, 0.18 MB/s at 100 ms (measured 0.17-0.45), so 64 MiB there would
// take 6 minutes per transfer; the lossy cells move 8 MiB up to 50 ms
// and 4 MiB beyond, about 10 and 25 s (SLUICE_WAN_LOSS_MIB).
func wanSize(c config, cell wanCell) (size int64, timeout time.Duration) {
	mib, env, per := 64, "SLUICE_WAN_MIB", 5*time.Second
	if c.short {
		mib = 4
	}
	if cell.loss > 0 {
		mib, env, per = min(mib, 8), "SLUICE_WAN_LOSS_MIB", 10*time.Second
		if cell.rtt > 50*time.Millisecond {
			mib = min(mib, 4)
		}
	}
	if n, err := strconv.Atoi(os.Getenv(env)); err == nil && n > 0 {
		mib = n
	}
	timeout = 4 * time.Minute
	if c.short {
		timeout = 45 * time.Second
	}
	return int64(mib) << 20, max(timeout, time.Duration(mib)*per)
}

// wanClients measures many clients fetching a large response at once over
// a 50 ms path, for sluice's httpd and net/http.
func wanClients(c config, f *figures) error {
	const size = 1 << 20
	clients, timeout := 100, 3*time.Minute
	if c.short {
		clients, timeout = 20, time.Minute
	}
	bed, err := testbed.Create(testbed.Options{Middle: true, Queues: 1})
	if err != nil {
		return err
	}
	defer bed.Close()
	fw, err := impair.Start(bed.Middle, impair.Both(7, impair.Impairment{Delay: 25 * time.Millisecond}))
	if err != nil {
		return err
	}
	defer fw.Close()
	for _, s := range httpServers {
		if s.name != "sluice" && s.name != "net/http" {
			continue
		}
		progressStep("wan", fmt.Sprintf("%s %d clients", s.name, clients))
		srv, err := startServer(bed, s, c.serverCPU)
		if err != nil {
			return err
		}
		down0, _ := fw.Stats()
		times, failed, ferr := fetchAll(bed, srv.addr, clients, size, timeout)
		down1, _ := fw.Stats()
		srv.stop()
		label := fmt.Sprintf("%d × %s RTT 50ms", clients, sizeLabel(size))
		if failed > 0 {
			f.add(s.name, "failed transfers", "count", lower, float64(failed)).Note = fmt.Sprintf("%s: %v", label, ferr)
		}
		if len(times) == 0 {
			continue
		}
		note := fmt.Sprintf("completion time (connect to last body octet) of %d clients started at once; "+
			"toward the clients the forwarder sent %d frames, the kernel dropped %d before it read them, %d overflowed its queue",
			clients, down1.Sent-down0.Sent, down1.KernelDrops-down0.KernelDrops, down1.Overflow-down0.Overflow)
		f.add(s.name, "p50 "+label, "ms", lower, quantileMS(times, 50)).Note = note
		f.add(s.name, "p99 "+label, "ms", lower, quantileMS(times, 99)).Note = note
	}
	return nil
}

// fetchAll starts n clients in bed's peer namespace at once, each on its
// own connection fetching /bytes/size from addr, and returns the
// completion times of those that got the whole body.
func fetchAll(bed *testbed.Bed, addr netip.AddrPort, n, size int, timeout time.Duration) (times []time.Duration, failed int, first error) {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, a string) (conn net.Conn, err error) {
			err = bed.Peer.Do(func() (err error) {
				var d net.Dialer
				conn, err = d.DialContext(ctx, network, a)
				return err
			})
			return conn, err
		},
		DisableCompression: true,
		DisableKeepAlives:  true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: timeout}
	url := "http://" + addr.String() + sizePath(size)
	type result struct {
		d   time.Duration
		err error
	}
	out := make(chan result, n)
	start := make(chan struct{})
	for range n {
		go func() {
			<-start
			t0 := time.Now()
			resp, err := client.Get(url)
			if err != nil {
				out <- result{err: err}
				return
			}
			k, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err == nil && (resp.StatusCode != http.StatusOK || k != int64(size)) {
				err = fmt.Errorf("status %d, %d of %d octets", resp.StatusCode, k, size)
			}
			out <- result{d: time.Since(t0), err: err}
		}()
	}
	close(start)
	for range n {
		r := <-out
		if r.err != nil {
			failed++
			if first == nil {
				first = r.err
			}
			continue
		}
		times = append(times, r.d)
	}
	return times, failed, first
}

// quantileMS is the q-th percentile of ds (nearest rank), in milliseconds.
func quantileMS(ds []time.Duration, q int) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := max(0, (len(s)*q+99)/100-1)
	return float64(s[i]) / 1e6
}
