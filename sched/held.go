package sched

// heldText is the text Write accepted beyond the TCB's send buffer. The
// TCB takes it from the front a few segments at a time, as ACKs free room:
// advancing an offset instead of moving the rest to the front keeps that
// linear (moving it cost a copy of up to the whole held text per ACK, a
// 64 KiB Write drained by 40 ACKs copied about 1.3 MiB). The dead front is
// reclaimed once all is taken, or by add once it is at least half the
// slice, so the storage stays within twice what is held.
type heldText struct {
	b   []byte
	off int // octets of b already taken
}

// Len is how many octets are held.
func (h *heldText) Len() int { return len(h.b) - h.off }

// Bytes is the held text, oldest first.
func (h *heldText) Bytes() []byte { return h.b[h.off:] }

// add appends p.
func (h *heldText) add(p []byte) {
	if h.off > 0 && h.off >= len(h.b)/2 {
		h.b = h.b[:copy(h.b, h.b[h.off:])]
		h.off = 0
	}
	h.b = append(h.b, p...)
}

// advance drops the first n held octets (taken by the TCB).
func (h *heldText) advance(n int) {
	h.off += n
	if h.off >= len(h.b) {
		h.reset()
	}
}

// reset drops all held text, keeping the storage.
func (h *heldText) reset() { h.b, h.off = h.b[:0], 0 }

// free drops all held text and the storage.
func (h *heldText) free() { h.b, h.off = nil, 0 }
