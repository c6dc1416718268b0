package sluice

import (
	"testing"

	"github.com/sluicenet/sluice/sched"
	bufchunk "github.com/sluicenet/sluice/tcp/chunk"
)

// TestStatsMemory: Memory sums the loops' pools and the connections'
// memory counters (each loop's TCP already holds its closed connections'
// counts) and carries the budget's levels and counters as they are.
func TestStatsMemory(t *testing.T) {
	st := &Stats{GroupStats: sched.GroupStats{Loops: make([]sched.Stats, 3)}}
	if m := st.Memory(); m != (MemoryStats{}) {
		t.Fatalf("no traffic, no budget: %+v", m)
	}
	for i := range st.Loops {
		l := &st.Loops[i]
		l.TCP.MemDropped = uint64(1 + i)
		l.TCP.OOOPruned = uint64(100 * (i + 1))
		l.Pool = bufchunk.PoolStats{InUse: 10 + i, Cached: 2, Retired: 1, Reserved: 16, Allocated: uint64(40 + i), Refused: uint64(i), Forced: 1}
	}
	st.Budget = bufchunk.BudgetStats{Low: 1 << 20, Pressure: 1 << 21, High: 3 << 20, Used: 5 << 19, Peak: 3 << 20,
		UnderPressure: true, PressureEntered: 4, Refused: 9, Forced: 2}
	want := MemoryStats{
		Limit: 3 << 20, Pressure: 1 << 21, Low: 1 << 20, Used: 5 << 19, Peak: 3 << 20,
		UnderPressure: true, PressureEntered: 4, Refused: 9, Forced: 2,
		ChunksInUse: 33, ChunksCached: 6, ChunksRetired: 3, ChunksReserved: 48, ChunksAllocated: 123,
		ChunksRefused: 3, ChunksForced: 3, MemDropped: 6, OOOPruned: 600,
	}
	if m := st.Memory(); m != want {
		t.Errorf("Memory() = %+v\nwant       %+v", m, want)
	}
}
