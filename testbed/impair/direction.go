package impair

import (
	"container/heap"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// direction forwards the frames one port reads to the other port.
type direction struct {
	name    string
	in, out *port
	imp     Impairment
	match   func([]byte) bool
	rng     *rand.Rand // reader goroutine only
	bufLen  int
	stop    <-chan struct{}
	pool    sync.Pool

	received, passed, lost, duplicated, reordered atomic.Uint64
	overflow, oversize, sent, sentBytes, sendErrs atomic.Uint64

	mu          sync.Mutex
	q           frameHeap
	seq         uint64
	maxQueue    int
	waits       [queueWaitBuckets]uint64 // frames by whole milliseconds waited for the link
	lastRelease time.Time                // the latest release given so far (in-order jitter)
	nextFree    time.Time                // when the rate-limited link is free again
	wake        chan struct{}
}

type queued struct {
	at  time.Time
	seq uint64 // ties broken by arrival: same release time keeps order
	buf []byte
}

type frameHeap []queued

func (h frameHeap) Len() int { return len(h) }
func (h frameHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h frameHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *frameHeap) Push(x any)   { *h = append(*h, x.(queued)) }
func (h *frameHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = queued{}
	*h = old[:len(old)-1]
	return x
}

func newDirection(name string, in, out *port, imp Impairment, match func([]byte) bool, seed, stream uint64, bufLen int, stop <-chan struct{}) *direction {
	d := &direction{
		name: name, in: in, out: out, imp: imp, match: match,
		rng:    rand.New(rand.NewPCG(seed, stream)),
		bufLen: bufLen, stop: stop, wake: make(chan struct{}, 1),
	}
	d.pool.New = func() any { return make([]byte, d.bufLen) }
	return d
}

func (d *direction) getBuf() []byte  { return d.pool.Get().([]byte)[:d.bufLen] }
func (d *direction) putBuf(b []byte) { d.pool.Put(b[:cap(b)]) } //nolint:staticcheck // slices are fine here

// read is the reader goroutine: it takes frames off the incoming link in
// batches and decides their fate; frames that go straight on leave in one
// batch after the decisions.
func (d *direction) read() {
	rm, tm := newMmsg(), newMmsg()
	bufs := make([][]byte, batchMax)
	for i := range bufs {
		bufs[i] = d.getBuf()
	}
	lens := make([]int, batchMax)
	out := make([][]byte, 0, 2*batchMax)
	free := make([][]byte, 0, batchMax)
	for {
		select {
		case <-d.stop:
			for _, b := range bufs {
				d.putBuf(b)
			}
			return
		default:
		}
		n, err := d.in.recv(rm, bufs, lens)
		if err != nil {
			time.Sleep(pollInterval) // a closed or broken socket: do not spin
			continue
		}
		out, free = out[:0], free[:0]
		for i := range n {
			d.received.Add(1)
			buf := bufs[i]
			if lens[i] > len(buf) {
				d.oversize.Add(1)
				continue // the buffer stays for the next read
			}
			frame := buf[:lens[i]]
			copies, taken := 1, false
			if d.match(frame) {
				copies, taken = d.impair(frame)
			} else {
				d.passed.Add(1)
			}
			for range copies {
				out = append(out, frame)
			}
			if copies > 0 {
				free = append(free, buf)
			}
			if copies > 0 || taken {
				bufs[i] = d.getBuf()
			}
		}
		d.transmit(tm, out)
		for _, b := range free {
			d.putBuf(b)
		}
	}
}

// impair draws the frame's fate (always the same number of draws per
// frame, so one decision never shifts the stream of the others). It
// returns how many copies the caller sends at once, or taken when the
// frame went into the queue (which then owns its buffer); neither means
// it was dropped.
func (d *direction) impair(frame []byte) (copies int, taken bool) {
	i := &d.imp
	rLoss, rDup, rReorder, rJitter := d.rng.Float64(), d.rng.Float64(), d.rng.Float64(), d.rng.Float64()
	if rLoss < i.Loss {
		d.lost.Add(1)
		return 0, false
	}
	copies = 1
	if rDup < i.Duplicate {
		d.duplicated.Add(1)
		copies = 2
	}
	if !i.queued() {
		return copies, false
	}
	now := time.Now()
	release := now.Add(i.Delay)
	if i.Jitter > 0 {
		release = release.Add(time.Duration((2*rJitter - 1) * float64(i.Jitter)))
	}
	reorder := rReorder < i.Reorder
	if reorder {
		d.reordered.Add(1)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for c := range copies {
		if len(d.q) >= i.Limit {
			d.overflow.Add(1)
			break
		}
		at := release
		if !i.JitterReorders && at.Before(d.lastRelease) {
			at = d.lastRelease
		}
		d.lastRelease = at
		if i.Rate > 0 {
			// The frame leaves once the link has sent everything
			// ahead of it and then itself (store and forward).
			start := at
			if start.Before(d.nextFree) {
				start = d.nextFree
			}
			d.waits[min(int(start.Sub(at)/time.Millisecond), queueWaitBuckets-1)]++
			at = start.Add(time.Duration(float64(len(frame)*8) * float64(time.Second) / float64(i.Rate)))
			d.nextFree = at
		}
		if reorder {
			// Held back alone: neither lastRelease nor nextFree
			// moves, so the frames after it overtake it.
			at = at.Add(i.ReorderDelay)
		}
		buf := frame
		if c > 0 {
			buf = append(d.getBuf()[:0], frame...)
		}
		d.seq++
		heap.Push(&d.q, queued{at: at, seq: d.seq, buf: buf})
		d.maxQueue = max(d.maxQueue, len(d.q))
		taken = true
	}
	select {
	case d.wake <- struct{}{}:
	default:
	}
	return 0, taken
}

// transmit writes frames out, batchMax at a time, and counts them.
func (d *direction) transmit(m *mmsg, frames [][]byte) {
	for len(frames) > 0 {
		chunk := frames[:min(len(frames), batchMax)]
		frames = frames[len(chunk):]
		k, err := d.out.send(m, chunk, d.stop)
		for _, f := range chunk[:k] {
			d.sentBytes.Add(uint64(len(f)))
		}
		d.sent.Add(uint64(k))
		if err != nil {
			d.sendErrs.Add(uint64(len(chunk) - k))
		}
	}
}

// send is the sender goroutine of a queued direction: it writes the frames
// whose release time has come, in batches.
func (d *direction) send() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	tm := newMmsg()
	var due []queued
	var frames [][]byte
	for {
		d.mu.Lock()
		now := time.Now()
		due = due[:0]
		for len(d.q) > 0 && !d.q[0].at.After(now) && len(due) < batchMax {
			due = append(due, heap.Pop(&d.q).(queued))
		}
		wait := time.Duration(-1)
		if len(d.q) > 0 {
			wait = d.q[0].at.Sub(now)
		}
		d.mu.Unlock()
		frames = frames[:0]
		for _, f := range due {
			frames = append(frames, f.buf)
		}
		d.transmit(tm, frames)
		for _, f := range due {
			d.putBuf(f.buf)
		}
		if len(due) > 0 {
			continue
		}
		var tc <-chan time.Time
		if wait >= 0 {
			timer.Reset(wait)
			tc = timer.C
		}
		select {
		case <-d.stop:
			return
		case <-d.wake:
		case <-tc:
		}
	}
}

func (d *direction) stats() Stats {
	d.mu.Lock()
	mq := d.maxQueue
	p50, p99 := waitQuantile(&d.waits, 0.5), waitQuantile(&d.waits, 0.99)
	d.mu.Unlock()
	return Stats{
		Received: d.received.Load(), Passed: d.passed.Load(), Lost: d.lost.Load(),
		Duplicated: d.duplicated.Load(), Reordered: d.reordered.Load(),
		Overflow: d.overflow.Load(), Oversize: d.oversize.Load(),
		Sent: d.sent.Load(), SentBytes: d.sentBytes.Load(), SendErrors: d.sendErrs.Load(),
		KernelDrops: d.in.drops(), MaxQueue: mq, QueueWaitP50: p50, QueueWaitP99: p99,
	}
}

// queueWaitBuckets bounds the wait histogram: 1 ms buckets, the last
// one holding every wait of 511 ms and more.
const queueWaitBuckets = 512

// waitQuantile is the wait that a fraction q of the rate-limited frames
// did not exceed, to the millisecond above (0 when none was queued).
func waitQuantile(h *[queueWaitBuckets]uint64, q float64) time.Duration {
	var n uint64
	for _, c := range h {
		n += c
	}
	if n == 0 {
		return 0
	}
	want := uint64(q*float64(n) + 0.5)
	var seen uint64
	for i, c := range h {
		if seen += c; seen >= max(want, 1) {
			return time.Duration(i+1) * time.Millisecond
		}
	}
	return queueWaitBuckets * time.Millisecond
}
