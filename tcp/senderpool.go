package tcp

// SenderPool is a loop's free list of per-flight sender state
// (Config.Senders): RACK's transmit records and delivery-rate sampling
// (sendState, rack_tcb.go), about 1 KiB with a small record ring, which
// a connection takes when a second segment joins a flight and gives back
// once the flight is acknowledged with no recovery, probe or pacing
// under way (TCB.releaseSender), so an idle connection holds none. Not
// safe for concurrent use: one per loop, like RangePool.
type SenderPool struct{ freeList[sendState] }

const (
	// senderPoolMax bounds the free list after a burst of flights.
	senderPoolMax = 256
	// senderKeepRecs is the largest record ring kept with a pooled
	// sendState (2 KiB); larger ones are left to the collector.
	senderKeepRecs = 64
)

// get returns a reset sendState; a nil pool allocates.
func (p *SenderPool) get() *sendState {
	if p == nil {
		return new(sendState)
	}
	return p.take()
}

// put resets x and gives it back; a full pool leaves it to the garbage
// collector, and a large record ring is not kept.
func (p *SenderPool) put(x *sendState) {
	if len(x.q.recs) > senderKeepRecs {
		x.q.recs = nil
	}
	x.reset()
	p.give(x, senderPoolMax)
}
