// Package metrics exposes a running sluice server's counters: a Go snapshot
// API (Take), a prometheus.Collector (NewCollector), and an optional HTTP
// endpoint (Serve) with /metrics for Prometheus and /snapshot, the JSON form
// of a Snapshot that cmd/sluicectl reads.
//
// Everything is read from sched.Group.Stats, which takes each loop's
// snapshot on the loop's own thread (the loops keep plain, non-atomic
// counters), plus the XDP program's per-CPU counters summed by bpf and each
// AF_XDP socket's XDP_STATISTICS. A scrape therefore costs each loop one
// posted function per scrape and never slows the per-frame path.
//
// Names: one table (table.go) names every per-loop value once; Prometheus
// gets "sluice_<name>_total" for counters and "sluice_<name>" for gauges,
// with a "queue" label (sum without(queue) gives the group's total), drops
// by wire.DropReason under sluice_drops_total{reason}, connections by RFC
// 9293 state under sluice_connections{state}, and the XDP program's
// verdicts under sluice_xdp_verdicts_total{verdict}, and the server-wide
// buffer memory budget as sluice_memory_<name> (limit, levels, use and
// pressure as gauges; refusals as counters; absent without a budget). The
// snapshot carries the same names, per loop and summed, and the budget's
// under "memory".
//
// A *sluice.Server is a Source, connection listing (sluicectl ss)
// included:
//
//	ep, err := metrics.Serve("127.0.0.1:9101", srv, metrics.Options{})
//
// A server built on the loops directly (sched.Start) is one through
// Group(g).
package metrics

import (
	"time"

	"github.com/sluicenet/sluice"
	"github.com/sluicenet/sluice/sched"
	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/wire"
)

// Source is what metrics reads: *sluice.Server satisfies it. A Source
// that is also a ConnLister gets its connections listed in snapshots
// asked for them (/snapshot?conns=N).
type Source interface {
	Stats() (sluice.Stats, error)
}

// ConnLister lists up to limit open connections (0: all), as
// sluice.Server.Conns.
type ConnLister interface {
	Conns(limit int) ([]sluice.ConnInfo, error)
}

// SourceFunc adapts a function to Source.
type SourceFunc func() (sluice.Stats, error)

// Stats calls f.
func (f SourceFunc) Stats() (sluice.Stats, error) { return f() }

// Group is the Source and ConnLister of a group of loops started
// without the public API (sched.Start).
func Group(g *sched.Group) interface {
	Source
	ConnLister
} {
	return group{g}
}

type group struct{ g *sched.Group }

func (g group) Stats() (sluice.Stats, error) {
	gs, err := g.g.Stats()
	return sluice.Stats{GroupStats: gs, Conns: int64(g.g.Conns())}, err
}

func (g group) Conns(limit int) ([]sluice.ConnInfo, error) {
	list, err := g.g.ListConns(limit)
	out := make([]sluice.ConnInfo, len(list))
	for i := range list {
		out[i] = sluice.ConnInfo(list[i])
	}
	return out, err
}

// LoopSnapshot is one loop's values (or, as Snapshot.Total, their sum).
type LoopSnapshot struct {
	Queue int `json:"queue"` // -1 for the total
	// Counters holds every table value by name (counters and gauges).
	Counters map[string]uint64 `json:"counters"`
	// Drops are frames the parser rejected, by reason (snake case of
	// wire.DropReason's name).
	Drops map[string]uint64 `json:"drops"`
	// States counts connections by RFC 9293 state name ("ESTABLISHED"),
	// the compact TIME-WAIT table's entries included under TIME-WAIT.
	States map[string]int `json:"states"`
	// XSKError says why the socket's XDP_STATISTICS could not be read.
	XSKError string `json:"xsk_error,omitempty"`
}

// Snapshot is the group's state at one instant.
type Snapshot struct {
	Time  time.Time      `json:"time"`
	Loops []LoopSnapshot `json:"loops"`
	Total LoopSnapshot   `json:"total"`
	// XDP holds the steering program's verdict counters (summed over
	// CPUs), and "fanout" (a subset of "redirected").
	XDP      map[string]uint64 `json:"xdp"`
	XDPError string            `json:"xdp_error,omitempty"`
	// Memory holds the server-wide buffer memory budget's values by
	// name (levels and use in octets, "pressure" 0 or 1, counters); nil
	// when the server has no budget (a negative Config.MemoryLimit).
	Memory map[string]uint64 `json:"memory,omitempty"`
	// Fixable are the drops a user can fix, with what to do
	// (sluice.Stats.FixableDrops).
	Fixable []sluice.FixableDrop `json:"fixable,omitempty"`
	// Conns lists connections when the snapshot was asked for them and
	// the source lists them; nil otherwise.
	Conns []sluice.ConnInfo `json:"conns,omitempty"`
}

// Take reads src once and builds a Snapshot.
func Take(src Source) (*Snapshot, error) {
	st, err := src.Stats()
	if err != nil {
		return nil, err
	}
	return FromStats(&st, time.Now()), nil
}

// FromStats builds a Snapshot from Stats taken at now.
func FromStats(st *sluice.Stats, now time.Time) *Snapshot {
	gs := &st.GroupStats
	s := &Snapshot{Time: now, Total: newLoopSnapshot(-1), XDP: map[string]uint64{}, Fixable: st.FixableDrops()}
	for i := range gs.Loops {
		ls := loopSnapshot(&gs.Loops[i])
		s.Loops = append(s.Loops, ls)
		s.Total.add(&ls)
	}
	if gs.XDPErr != nil {
		s.XDPError = gs.XDPErr.Error()
	} else {
		for _, v := range xdpVerdicts {
			s.XDP[v.label] = v.get(&gs.XDP)
		}
		s.XDP["fanout"] = gs.XDP.Fanout
	}
	if gs.Budget.High > 0 {
		s.Memory = map[string]uint64{}
		for i := range budgetMetrics {
			m := &budgetMetrics[i]
			s.Memory[m.name] = m.get(&gs.Budget)
		}
	}
	return s
}

func newLoopSnapshot(queue int) LoopSnapshot {
	return LoopSnapshot{Queue: queue, Counters: map[string]uint64{}, Drops: map[string]uint64{}, States: map[string]int{}}
}

func loopSnapshot(st *sched.Stats) LoopSnapshot {
	ls := newLoopSnapshot(st.Queue)
	for i := range loopMetrics {
		m := &loopMetrics[i]
		ls.Counters[m.name] = m.get(st)
	}
	for r := wire.DropReason(1); r < wire.NumDropReasons; r++ {
		ls.Drops[dropLabel(r)] = st.Drops[r]
	}
	for state := tcp.State(0); int(state) < len(st.ByState); state++ {
		if state == tcp.Closed || state == tcp.Listen {
			continue // no connection in the table is CLOSED or LISTEN
		}
		ls.States[state.String()] = st.ByState[state]
	}
	if st.XSKErr != nil {
		ls.XSKError = st.XSKErr.Error()
	}
	return ls
}

// add sums o into s.
func (s *LoopSnapshot) add(o *LoopSnapshot) {
	for k, v := range o.Counters {
		s.Counters[k] += v
	}
	for k, v := range o.Drops {
		s.Drops[k] += v
	}
	for k, v := range o.States {
		s.States[k] += v
	}
}

// Names lists the counter names of the table, in table order (for
// printing the way nstat does).
func Names() []string {
	out := make([]string, len(loopMetrics))
	for i := range loopMetrics {
		out[i] = loopMetrics[i].name
	}
	return out
}

// States lists the RFC 9293 state names a snapshot counts, in state order.
func States() []string {
	var out []string
	for st := tcp.SynSent; st <= tcp.TimeWait; st++ {
		out = append(out, st.String())
	}
	return out
}

// MemoryNames lists the names of Snapshot.Memory, in table order.
func MemoryNames() []string {
	out := make([]string, len(budgetMetrics))
	for i := range budgetMetrics {
		out[i] = budgetMetrics[i].name
	}
	return out
}

// IsGauge reports whether the named table value is a level (connections,
// queue lengths, free frames) rather than a counter: a delta of it means
// nothing. Memory values are named "memory_" + their Snapshot.Memory key.
func IsGauge(name string) bool {
	for i := range loopMetrics {
		if loopMetrics[i].name == name {
			return loopMetrics[i].kind == gauge
		}
	}
	for i := range budgetMetrics {
		if "memory_"+budgetMetrics[i].name == name {
			return budgetMetrics[i].kind == gauge
		}
	}
	return false
}
