package sluice

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicenet/sluice/testbed"
)

// lender answers each request octet with an 8-octet length (Write, a
// copy) and a body of that many octets lent from a buffer of its own
// (Lend), alternately from the callback and from another goroutine.
// Each buffer is scribbled over as soon as its done runs: had sluice
// read a lent byte after releasing it, the client would see the
// scribble.
type lender struct {
	NopHandler
	mu       sync.Mutex
	lent     map[int]*lentBuf
	next     int
	released atomic.Int64
	twice    atomic.Int64 // done functions that ran more than once
	offLoop  atomic.Int64 // dones that ran off the loop
	gor      sync.WaitGroup
}

type lentBuf struct {
	b    []byte
	done atomic.Int32
}

// lendSize is the body of request i: lengths and alignments that give
// lent runs with and without a copied head and tail.
func lendSize(i int) int { return 64<<10 + i*4099%(300<<10) }

// lendBody is body i: a pattern that shifts with i.
func lendBody(i, n int) []byte {
	b := make([]byte, n)
	for j := range b {
		b[j] = byte(j*7 + i)
	}
	return b
}

func (h *lender) OnData(c *Conn, data []byte) Action {
	for range data {
		h.mu.Lock()
		i := h.next
		h.next++
		lb := &lentBuf{b: lendBody(i, lendSize(i))}
		h.lent[i] = lb
		h.mu.Unlock()
		var hdr [8]byte
		binary.BigEndian.PutUint64(hdr[:], uint64(len(lb.b)))
		c.Write(hdr[:])
		done := func() {
			if c.loop == nil || !c.loop.OnThread() {
				h.offLoop.Add(1)
			}
			if lb.done.Add(1) > 1 {
				h.twice.Add(1)
			}
			for j := range lb.b {
				lb.b[j] = 0xEE // the lender owns it again
			}
			h.released.Add(1)
		}
		if i%2 == 0 {
			if _, err := c.Lend(lb.b, done); err != nil {
				return Close
			}
			continue
		}
		// From another goroutine: posted, taken in order after the
		// header (the callback's Write is in the send buffer already).
		h.gor.Add(1)
		go func() {
			defer h.gor.Done()
			c.Lend(lb.b, done)
		}()
		h.gor.Wait() // keep the order: the next header after this body
	}
	return None
}

// TestLend: bodies lent over the real AF_XDP path arrive intact,
// interleaved with written headers, each done runs once on the loop,
// and a lent buffer is never read after its done ran (it is scribbled
// over at once, so a late read would corrupt what the client gets).
func TestLend(t *testing.T) {
	bed := newBed(t, 1)
	h := &lender{lent: map[int]*lentBuf{}}
	startServer(t, testConfig(bed, 7600), h)
	const conns, reqs = 2, 12
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for k := range conns {
		c := bed.Peer.Dial(t, testbed.HostPort(bed.Server.IPv4, 7600))
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			c.SetDeadline(time.Now().Add(60 * time.Second))
			for r := range reqs {
				if _, err := c.Write([]byte{'g'}); err != nil {
					errs <- err
					return
				}
				var hdr [8]byte
				if _, err := io.ReadFull(c, hdr[:]); err != nil {
					errs <- fmt.Errorf("conn %d request %d: header: %v", k, r, err)
					return
				}
				body := make([]byte, binary.BigEndian.Uint64(hdr[:]))
				if _, err := io.ReadFull(c, body); err != nil {
					errs <- fmt.Errorf("conn %d request %d: body: %v", k, r, err)
					return
				}
				if !h.matches(body) {
					errs <- fmt.Errorf("conn %d request %d: %d-octet body differs from every lent one", k, r, len(body))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Every body was acknowledged: each done runs, once, on the loop.
	want := int64(conns * reqs)
	deadline := time.Now().Add(10 * time.Second)
	for h.released.Load() < want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := h.released.Load(); got != want || h.twice.Load() != 0 || h.offLoop.Load() != 0 {
		t.Fatalf("done ran %d times for %d lends (%d twice, %d off the loop)", got, want, h.twice.Load(), h.offLoop.Load())
	}
}

// matches reports whether body is one of the bodies lent, as it was
// lent (lendBody, recomputed: the buffer itself is scribbled over once
// released).
func (h *lender) matches(body []byte) bool {
	h.mu.Lock()
	n := h.next
	h.mu.Unlock()
	for i := range n {
		if lendSize(i) == len(body) && bytes.Equal(body, lendBody(i, len(body))) {
			return true
		}
	}
	return false
}
