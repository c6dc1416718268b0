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
//     ticks, six levels of 64 slots (about 795 days of range; later
//     deadlines are re-placed until due), O(1) add, cancel and reset with
//     eager unlinking from index-linked lists, generation-checked handles,
//     24 bytes per timer. Expiry is exact to the tick (cascading, not
//     Linux ≥4.8's slack): never early, at most one tick late. Time is an
//     argument; NextDeadline tells an idle loop how long it may sleep.
//   - ConnTable (conntable.go): 4-tuple -> uint32 map, open addressing with
//     Robin Hood insertion and backward-shift deletion (no tombstones), a
//     per-table maphash seed against hash flooding, and incremental resize:
//     grow at 3/4 load, shrink at 1/8, each Insert/Delete migrating at most
//     8 old slots, so no operation pays for a whole rehash. 44 bytes per
//     slot (key inline, so a lookup touches one slot); LookupBatch overlaps
//     the cache misses of an RX batch.
//   - Slab (slab.go): generic index allocator in 4096-element pages, so
//     growth never copies and element addresses stay valid.
//   - MPSC (mpsc.go): bounded multi-producer single-consumer ring (Vyukov's
//     per-slot sequence numbers) with an eventfd wakeup that producers only
//     pay for when the consumer has announced it is going to sleep.
package sched
