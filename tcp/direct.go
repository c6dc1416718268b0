package tcp

// Receiving without a copy. The common case of a receiver that keeps up is
// one in-order segment arriving at an empty receive buffer and read at
// once. A caller that sets Segment.Hold lets the TCB leave such text in
// the received frame: the octets count as buffered (RCV.NXT, the window
// and every other rule see exactly what they would after a copy), Peek
// returns the frame's memory, and only what is still unread when the
// caller calls Unalias is copied into the receive buffer, at the places
// reserved for it. sched's loop delivers the text (OnData) between Input
// and Unalias, so a server that reads everything never copies it.

// append adds p as in-order text. hold asks to keep p's memory instead of
// copying: granted only when the buffer holds no in-order text, so held
// text is always the whole in-order part and Peek stays one slice.
func (r *ring) append(p []byte, hold bool) {
	if hold && r.n == 0 && len(p) > 0 {
		r.held = p
		r.n = len(p)
		return
	}
	r.spill()
	r.writeAt(0, p)
	r.n += len(p)
}

// spill copies held text into its reserved places in buf.
func (r *ring) spill() {
	if len(r.held) == 0 {
		r.held = nil
		return
	}
	c := len(r.buf)
	if c == 0 {
		r.held = nil
		return
	}
	i := r.head % c
	k := copy(r.buf[i:], r.held)
	copy(r.buf, r.held[k:])
	r.held = nil
}

// Unalias copies received text the TCB still keeps in a segment's memory
// (Segment.Hold) into its receive buffer. Call it before that memory is
// reused. It allocates nothing and costs nothing when the text was read.
func (t *TCB) Unalias() { t.rcv.spill() }

// Holding reports whether received text still lives in a segment's memory.
func (t *TCB) Holding() bool { return len(t.rcv.held) > 0 }
