package tcp

// Receiving without a copy. The common case of a receiver that keeps up is
// one in-order segment arriving at an empty receive buffer and read at
// once. A caller that sets Segment.Hold lets the TCB leave such text in
// the received frame: the octets count as buffered (RCV.NXT, the window
// and every other rule see exactly what they would after a copy), Peek
// returns the frame's memory, and only what is still unread when the
// caller calls Unalias is copied into the receive buffer, at the places
// reserved for it. sched's loop delivers the text (OnData) between Input
// and Unalias, so a server that reads everything never copies it, and
// its receive buffer never takes a chunk.

// append adds p as in-order text and returns the octets taken (fewer
// when the memory budget refused a chunk). hold asks to keep p's memory
// instead of copying: granted only when the buffer holds no in-order
// text, so held text is always the whole in-order part and Peek stays
// one slice.
func (r *ring) append(p []byte, hold bool) int {
	k := r.q.Append(p, hold)
	r.n += k
	return k
}

// Unalias copies received text the TCB still keeps in a segment's memory
// (Segment.Hold) into its receive buffer. Call it before that memory is
// reused. It allocates nothing and costs nothing when the text was read.
func (t *TCB) Unalias() { t.rcv.q.Spill() }

// Holding reports whether received text still lives in a segment's memory.
func (t *TCB) Holding() bool { return t.rcv.q.Held() }
