// Command sluicectl prints a running sluice server's state from its
// metrics endpoint (metrics.Serve): connections like `ss -tan`, counters
// like `nstat`, a per-loop table, and what is dropped and why.
//
//	sluicectl [-addr 127.0.0.1:9101] ss [-n 100]     states summary and connection list
//	sluicectl [-addr ...] nstat [-z] [-d 1s]          counters (non-zero; -z all; -d: deltas over an interval)
//	sluicectl [-addr ...] loops                       one line per loop
//	sluicectl [-addr ...] drops                       dropped frames by reason; what to do about fixable drops
//	sluicectl [-addr ...] memory                      buffer memory: the budget, pressure, chunks per loop
//
// The server must serve the endpoint (metrics.Serve).
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluicenet/sluice/metrics"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sluicectl:", err)
		os.Exit(1)
	}
}

const usage = `usage: sluicectl [-addr host:port] ss [-n N] | nstat [-z] [-d DURATION] | loops | drops | memory`

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("sluicectl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addr := fs.String("addr", "127.0.0.1:9101", "the server's metrics endpoint")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w\n%s", err, usage)
	}
	if fs.NArg() == 0 {
		return errors.New(usage)
	}
	base := *addr
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	switch cmd {
	case "ss":
		sub := flag.NewFlagSet("ss", flag.ContinueOnError)
		sub.SetOutput(io.Discard)
		n := sub.Int("n", 100, "list at most this many connections (0: counts only)")
		if err := sub.Parse(rest); err != nil {
			return fmt.Errorf("%w\n%s", err, usage)
		}
		q := ""
		if *n > 0 {
			q = fmt.Sprintf("?conns=%d", *n)
		}
		s, err := fetch(base + metrics.PathSnapshot + q)
		if err != nil {
			return err
		}
		printSS(out, s)
	case "nstat":
		sub := flag.NewFlagSet("nstat", flag.ContinueOnError)
		sub.SetOutput(io.Discard)
		zero := sub.Bool("z", false, "print zero counters too")
		d := sub.Duration("d", 0, "print what changed over this interval (per second in the last column)")
		if err := sub.Parse(rest); err != nil {
			return fmt.Errorf("%w\n%s", err, usage)
		}
		s, err := fetch(base + metrics.PathSnapshot)
		if err != nil {
			return err
		}
		var prev *metrics.Snapshot
		if *d > 0 {
			time.Sleep(*d)
			prev = s
			if s, err = fetch(base + metrics.PathSnapshot); err != nil {
				return err
			}
		}
		printNstat(out, s, prev, *zero)
	case "loops":
		s, err := fetch(base + metrics.PathSnapshot)
		if err != nil {
			return err
		}
		printLoops(out, s)
	case "drops":
		s, err := fetch(base + metrics.PathSnapshot)
		if err != nil {
			return err
		}
		printDrops(out, s)
	case "memory":
		s, err := fetch(base + metrics.PathSnapshot)
		if err != nil {
			return err
		}
		printMemory(out, s)
	default:
		return fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
	return nil
}

func fetch(url string) (*metrics.Snapshot, error) {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return nil, fmt.Errorf("%s: %s: %s", url, resp.Status, strings.TrimSpace(string(b)))
	}
	var s metrics.Snapshot
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	return &s, nil
}

// ssState abbreviates RFC 9293 state names as ss does.
var ssState = map[string]string{
	"SYN-SENT": "SYN-SENT", "SYN-RECEIVED": "SYN-RECV", "ESTABLISHED": "ESTAB",
	"FIN-WAIT-1": "FIN-WAIT-1", "FIN-WAIT-2": "FIN-WAIT-2", "CLOSE-WAIT": "CLOSE-WAIT",
	"CLOSING": "CLOSING", "LAST-ACK": "LAST-ACK", "TIME-WAIT": "TIME-WAIT",
}

func printSS(out io.Writer, s *metrics.Snapshot) {
	t := &s.Total
	total := 0
	for _, st := range metrics.States() {
		total += t.States[st]
	}
	fmt.Fprintf(out, "Total: %d (loops %d)\nTCP:", total, len(s.Loops))
	for _, st := range metrics.States() {
		fmt.Fprintf(out, " %s %d", strings.ToLower(ssState[st]), t.States[st])
	}
	fmt.Fprintf(out, "\nSYN queue %d, accept queue %d, SYN cookies sent %d, listener drops %d\n\n",
		t.Counters["syn_queue"], t.Counters["accept_queue"], t.Counters["syn_cookies_sent"], t.Counters["listener_drops"])
	if s.Conns == nil {
		return
	}
	w := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "State\tRecv-Q\tSend-Q\tLocal Address:Port\tPeer Address:Port\tLoop\tRTO")
	for _, c := range s.Conns {
		st := ssState[c.State]
		if st == "" {
			st = c.State
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\t%d\t%dms\n", st, c.RecvQ, c.SendQ, c.Local, c.Remote, c.Loop, c.RTO.Milliseconds())
	}
	w.Flush()
}

// nstatRows flattens a snapshot's totals into (name, value) rows, in table
// order, then drops by reason and XDP verdicts.
func nstatRows(s *metrics.Snapshot) ([]string, map[string]uint64) {
	var names []string
	vals := map[string]uint64{}
	for _, n := range metrics.Names() {
		names = append(names, n)
		vals[n] = s.Total.Counters[n]
	}
	var drops []string
	for k := range s.Total.Drops {
		drops = append(drops, k)
	}
	sort.Strings(drops)
	for _, k := range drops {
		names = append(names, "drop_"+k)
		vals["drop_"+k] = s.Total.Drops[k]
	}
	var xdp []string
	for k := range s.XDP {
		xdp = append(xdp, k)
	}
	sort.Strings(xdp)
	for _, k := range xdp {
		names = append(names, "xdp_"+k)
		vals["xdp_"+k] = s.XDP[k]
	}
	if s.Memory != nil {
		for _, k := range metrics.MemoryNames() {
			names = append(names, "memory_"+k)
			vals["memory_"+k] = s.Memory[k]
		}
	}
	return names, vals
}

func printNstat(out io.Writer, s, prev *metrics.Snapshot, zero bool) {
	names, vals := nstatRows(s)
	var old map[string]uint64
	secs := 0.0
	if prev != nil {
		_, old = nstatRows(prev)
		secs = s.Time.Sub(prev.Time).Seconds()
	}
	w := tabwriter.NewWriter(out, 0, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "#counter\tvalue\t")
	for _, n := range names {
		v := vals[n]
		gauge := metrics.IsGauge(n)
		if old != nil && !gauge {
			v -= min(v, old[n])
		}
		if v == 0 && !zero {
			continue
		}
		if old != nil && gauge {
			fmt.Fprintf(w, "%s\t%d\tnow\t\n", n, v) // a level: its current value
		} else if old != nil && secs > 0 {
			fmt.Fprintf(w, "%s\t%d\t%.1f/s\t\n", n, v, float64(v)/secs)
		} else {
			fmt.Fprintf(w, "%s\t%d\t\n", n, v)
		}
	}
	w.Flush()
	if s.XDPError != "" {
		fmt.Fprintf(out, "# xdp counters unreadable: %s\n", s.XDPError)
	}
}

func printLoops(out io.Writer, s *metrics.Snapshot) {
	w := tabwriter.NewWriter(out, 0, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "loop\trx frames\trx dropped\ttx frames\tconns\testab\ttime-wait\tsyn-q\trx ring full\tfill empty\t")
	row := func(name string, l *metrics.LoopSnapshot) {
		c := l.Counters
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", name, c["rx_frames"], c["rx_dropped"], c["tx_frames"],
			c["conns"], l.States["ESTABLISHED"], l.States["TIME-WAIT"], c["syn_queue"], c["xsk_rx_ring_full"], c["xsk_rx_fill_ring_empty"])
	}
	for i := range s.Loops {
		row(fmt.Sprint(s.Loops[i].Queue), &s.Loops[i])
	}
	row("total", &s.Total)
	w.Flush()
}

// printDrops lists the frames the loops dropped by reason, the segments
// accepted with a partial checksum (on a veth; dropped elsewhere), then the
// drops a user can fix with what to do about each (the server also logs
// these).
func printDrops(out io.Writer, s *metrics.Snapshot) {
	var reasons []string
	for r, n := range s.Total.Drops {
		if n > 0 {
			reasons = append(reasons, r)
		}
	}
	sort.Strings(reasons)
	w := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "#dropped frames\tcount")
	for _, r := range reasons {
		fmt.Fprintf(w, "%s\t%d\n", r, s.Total.Drops[r])
	}
	w.Flush()
	if n := s.Total.Counters["rx_partial_checksums"]; n > 0 {
		fmt.Fprintf(out, "\naccepted with a partial TCP checksum (veth peer's TX offload): %d\n", n)
	}
	if len(s.Fixable) == 0 {
		fmt.Fprintln(out, "\nnothing dropped for a reason you can fix")
		return
	}
	fmt.Fprintln(out, "\nfixable:")
	for _, d := range s.Fixable {
		fmt.Fprintf(out, "  %s: %d\n    fix: %s\n", d.Reason, d.Count, d.Fix)
	}
}

// printMemory shows the buffer memory budget (Linux's tcp_mem levels and
// use, as /proc/net/sockstat's "mem") and, per loop, the chunks held and
// what the budget refused: the connections' dropped segments and pruned
// out-of-order text.
func printMemory(out io.Writer, s *metrics.Snapshot) {
	if m := s.Memory; m == nil {
		fmt.Fprintln(out, "budget: none (no memory limit)")
	} else {
		state := "no pressure"
		if m["pressure"] != 0 {
			state = "UNDER PRESSURE"
		}
		fmt.Fprintf(out, "budget: limit %d, pressure at %d, relief below %d (octets)\n", m["limit_bytes"], m["pressure_threshold_bytes"], m["low_bytes"])
		fmt.Fprintf(out, "used %d (%.1f%% of the limit), peak %d; %s, entered %d times\n",
			m["used_bytes"], 100*float64(m["used_bytes"])/float64(max(m["limit_bytes"], 1)), m["peak_bytes"], state, m["pressure_entered"])
		fmt.Fprintf(out, "reservations refused at the limit %d, forced past it %d\n", m["refused"], m["forced"])
	}
	fmt.Fprintln(out)
	w := tabwriter.NewWriter(out, 0, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "loop\tchunks in use\tcached\tretired\treserved\tallocated\trefused\tforced\tmem dropped\tooo pruned bytes\t")
	row := func(name string, l *metrics.LoopSnapshot) {
		c := l.Counters
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", name, c["chunks_in_use"], c["chunks_cached"], c["chunks_retired"],
			c["chunks_reserved"], c["chunks_allocated"], c["chunks_refused"], c["chunks_forced"], c["mem_dropped"], c["ooo_pruned_bytes"])
	}
	for i := range s.Loops {
		row(fmt.Sprint(s.Loops[i].Queue), &s.Loops[i])
	}
	row("total", &s.Total)
	w.Flush()
}
