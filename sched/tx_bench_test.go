package sched

import (
	"testing"
	"time"
)

// bulkReply answers every octet received with a reply of its own: a
// bulk sender in the loop.
type bulkReply struct {
	sink
	reply []byte
}

func (h *bulkReply) OnData(c *Conn, data []byte) {
	for range data {
		c.Write(h.reply)
	}
}

// BenchmarkLoopBulkSend: 64 KiB replies through the loop's send path
// (segmentation, Emit, the copy and checksum into frames) on the pipe;
// the client engine's receive of them is included. Text crossing a
// send-buffer chunk is copied once, from the chunks into the frame.
func BenchmarkLoopBulkSend(b *testing.B) {
	const size = 64 << 10
	h := &bulkReply{reply: pattern(size)}
	p := newPipe(b, h, nil)
	p.dial()
	p.check = nil // its history would be most of the cost
	b.ReportAllocs()
	b.SetBytes(size)
	for b.Loop() {
		p.cli.Write([]byte{1}, p.now)
		got := 0
		for rounds := 0; got < size; rounds++ {
			if rounds > 1000 {
				b.Fatalf("stalled at %d of %d octets", got, size)
			}
			p.pump()
			for {
				a, c := p.cli.Peek()
				if len(a) == 0 {
					break
				}
				got += len(a) + len(c)
				p.cli.Consume(len(a)+len(c), p.now)
			}
			p.advance(time.Millisecond)
		}
		if got != size {
			b.Fatalf("got %d octets, want %d", got, size)
		}
	}
}
