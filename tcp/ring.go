package tcp

// ring is a fixed-capacity byte ring: the send and receive buffers. Its
// storage is allocated once, when the connection is created.
type ring struct {
	buf  []byte
	head int // index of the first used octet
	n    int // used octets
	// held, when not empty, is all n used octets, still in the memory of
	// the segment that carried them (direct.go); their places in buf are
	// reserved but not written until spill.
	held []byte
}

func (r *ring) init(size int) { r.buf = make([]byte, size); r.head, r.n, r.held = 0, 0, nil }
func (r *ring) cap() int      { return len(r.buf) }
func (r *ring) free() int     { return len(r.buf) - r.n }

// writeAt copies p to offset off past the used octets without marking it
// used (reassembly writes out-of-order text there). The caller bounds
// off+len(p) by free().
func (r *ring) writeAt(off int, p []byte) {
	c := len(r.buf)
	if c == 0 {
		return
	}
	i := (r.head + r.n + off) % c
	k := copy(r.buf[i:], p)
	copy(r.buf, p[k:])
}

// push appends p (bounded by free) and returns the octets taken.
func (r *ring) push(p []byte) int {
	k := min(len(p), r.free())
	r.writeAt(0, p[:k])
	r.n += k
	return k
}

// readAt copies used octets from offset off into p.
func (r *ring) readAt(off int, p []byte) int {
	r.spill()
	c := len(r.buf)
	k := min(len(p), r.n-off)
	if k <= 0 {
		return 0
	}
	i := (r.head + off) % c
	m := copy(p[:k], r.buf[i:])
	copy(p[m:k], r.buf)
	return k
}

// peek returns the used octets as at most two slices, without copying.
func (r *ring) peek() (a, b []byte) {
	if len(r.held) > 0 {
		return r.held, nil
	}
	end := r.head + r.n
	if end <= len(r.buf) {
		return r.buf[r.head:end], nil
	}
	return r.buf[r.head:], r.buf[:end-len(r.buf)]
}

// slice returns up to k used octets from offset off, contiguous in the
// storage (it may return fewer when they wrap).
func (r *ring) slice(off, k int) []byte {
	r.spill()
	i := (r.head + off) % len(r.buf)
	return r.buf[i:min(i+k, len(r.buf))]
}

// consume drops k octets from the front.
func (r *ring) consume(k int) {
	k = min(k, r.n)
	r.n -= k
	if len(r.held) > 0 {
		r.held = r.held[k:]
	}
	// head keeps moving even when the ring empties: the receive side
	// holds out-of-order text at positions relative to head+n.
	if len(r.buf) > 0 {
		r.head = (r.head + k) % len(r.buf)
	}
}
