package tcp

// SenderPool is a loop's free list of per-flight sender state
// (Config.Senders): RACK's transmit records and delivery-rate sampling
// (sendState, rack_tcb.go), about 1 KiB with a small record ring, which
// a connection takes when a second segment joins a flight and gives back
// once the flight is acknowledged with no recovery, probe or pacing
// under way (TCB.releaseSender), so an idle connection holds none. Not
// safe for concurrent use: one per loop, like RangePool.
type SenderPool struct {
	free  []*sendState
	inUse int
}

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
	p.inUse++
	if len(p.free) == 0 {
		return new(sendState)
	}
	x := p.free[len(p.free)-1]
	p.free[len(p.free)-1] = nil
	p.free = p.free[:len(p.free)-1]
	return x
}

// put resets x and gives it back; a full pool leaves it to the
// garbage collector.
func (p *SenderPool) put(x *sendState) {
	p.inUse--
	if len(p.free) >= senderPoolMax {
		return
	}
	if len(x.q.recs) > senderKeepRecs {
		x.q.recs = nil
	}
	x.reset()
	p.free = append(p.free, x)
}

// Idle is the number of sendStates on the free list; InUse the number
// taken from it and not given back.
func (p *SenderPool) Idle() int  { return len(p.free) }
func (p *SenderPool) InUse() int { return p.inUse }
