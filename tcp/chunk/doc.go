// Package chunk is the memory behind sluice's TCP buffers: fixed-size
// chunks from per-loop pools, a byte queue built as a chain of them, and a
// per-server budget that all the pools of a server draw on.
//
// # Buffers that follow the data
//
// A Queue is a connection's send or receive buffer. It holds no memory
// while it is empty: the first octet written takes a chunk (Size octets)
// from the loop's Pool, and a chunk goes back once every octet in it has
// been consumed; the directory that lists a queue's chunks comes from the
// same Pool and goes back with the last chunk. So an idle connection costs
// the Queue structs and nothing else, and a busy one holds what is in
// flight or unread, rounded up to chunks (like BSD mbuf clusters or Linux
// skb page fragments). A queue that empties holding one chunk in a
// one-slot directory (a request, an answer) goes back to the Pool whole,
// state, directory and chunk together (warm, a short LIFO counted with
// the cached chunks), so a keep-alive connection's next message pops all
// three at once instead of taking and returning each. A queue's Limit is the buffer size in the TCP
// sense (what the window and Write's backpressure see); it is a bound, not
// an allocation, so auto-tuning raises it without copying.
//
// Positions are relative to the queue's head, as in the byte ring it
// replaces: Push appends at N, WriteAt writes past N without marking the
// octets used (reassembly keeps out-of-order text there), Consume drops
// from the front. Extent is the highest position written: chunks beyond N
// hold out-of-order text until Consume reaches them or Discard prunes
// them. Received text can be held in the frame that carried it (Append
// with hold, Spill), so zero-copy receive needs no chunk at all when the
// application reads at once.
//
// A send queue can also take text the application lends (Lend, as
// MSG_ZEROCOPY sends from the caller's pages): the lent memory's whole
// pages stand in the directory in place of chunks, segments are built
// from them in place, and the lender learns through the pool when the
// queue no longer refers to them (lend.go).
//
// A receive queue (Init with retire) gives consumed chunks back through
// Pool.Retire: they are not reused before the next Pool.Recycle, because
// a callback may still read a slice that Peek returned before Consume
// (sched consumes before it calls OnData) and a Write from that callback
// must not land in the same memory. The engine recycles where no such
// slice can be live (before it takes in arriving text). A send queue's
// chunks are reused at once; so are those of a queue's private pool.
//
// # The budget
//
// A Budget bounds the chunks of a whole server, in bytes, with Linux
// tcp_mem's three levels: below Low there is no pressure; above Pressure
// the server is under pressure (connections stop growing their buffers,
// advertise smaller windows and may prune out-of-order text) until usage
// falls back below Low; at High a Get is refused, except that a queue
// holding no chunk always gets one (Get with must), so every connection
// can still make progress and none deadlocks or is reset. Text already
// accepted (a held segment that must be spilled) is forced in the same
// way; the overshoot is bounded by one chunk per connection and counted.
//
// Pools reserve budget in batches (Batch chunks) with one atomic add and
// return it when they hold more than two batches unused, so the hot path
// (Get and Put on a loop) takes no lock and touches no shared cache line.
// The cost is that up to two batches per loop count as used while idle;
// the levels are checked against what is reserved.
//
// A Pool and its queues belong to one loop and are not safe for
// concurrent use; a Budget is shared by the loops and is.
package chunk
