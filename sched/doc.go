// Package sched holds sluice's per-core event loops and the pure data
// structures each loop owns.
//
// A loop owns one NIC queue, one connection table, one timer wheel and one
// MPSC ring; nothing here is shared between loops, so the table and the wheel
// take no locks ("lock-free comes from ownership", DESIGN.md). Only the MPSC
// ring is touched by other goroutines, and it uses per-slot sequence numbers
// rather than a mutex.
//
// The structures are built so that a million connections cost the garbage
// collector nothing: timer entries and table slots are pointer-free structs
// in flat slices, addressed by uint32 indices, so the GC never scans them.
//
//   - TimerWheel (timerwheel.go): hierarchical hashed timing wheel, 1 ms
//     ticks, six levels of 64 slots (about 795 days of range), O(1) add,
//     cancel and reset, generation-checked handles.
//   - ConnTable (conntable.go): open-addressing 4-tuple -> uint32 map with a
//     per-table maphash seed and incremental (bounded-work) resizing.
//   - Slab (slab.go): index allocator with stable element addresses.
//   - MPSC (mpsc.go): bounded multi-producer single-consumer ring with an
//     eventfd wakeup that producers only pay for when the consumer sleeps.
package sched
