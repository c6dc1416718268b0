package tcp

import (
	"testing"
	"time"
)

// Idle time shorter than the RTO does not count in CUBIC's t (RFC 9438
// §5.8; Linux bictcp_cwnd_event(CA_EVENT_TX_START)). Two connections in
// congestion avoidance after a loss at 100 segments run the same rounds
// of 20 ms: a write of cwnd and one segment more (cwnd-limited), the ACK
// of the flight (cwnd grows, the rest goes out), its ACK. One waits
// 100 ms after each round, less than the RTO, the other not at all:
// their windows stay equal. With the idle time counted in t, the waiting
// one climbed the curve toward W_max 3.5 times as fast (144,787 octets
// after 30 rounds against 127,916).
func TestCubicIdleKeepsCurve(t *testing.T) {
	run := func(idle Instant) (iw, w uint32) {
		tcb, r := ccEstablished(t, CUBIC)
		// A loss at 100 segments: W_max 100, cwnd 70, K 4.2 s.
		tcb.ss.reno.cwnd = 100 * uint32(tcb.sndMSS)
		tcb.ss.OnLoss(tcb.sndMSS, 0, 2e9)
		iw = tcb.cc.Window()
		data := make([]byte, 1<<20)
		now := Instant(2e9)
		const rtt = 20e6
		ack := Segment{Flags: FlagACK, Seq: r, Window: 65535, Options: Options{HasTS: true, TSVal: 1}}
		acked := func() {
			ack.Ack = tcb.sndMax
			ack.Options.TSVal++
			tcb.Input(&ack, now)
		}
		for round := range 30 {
			want := int(tcb.cc.Window()) + int(tcb.sndMSS)
			for put := 0; put < want; {
				n, _ := tcb.Write(data[:want-put], now)
				if n == 0 {
					t.Fatalf("round %d: send buffer full at %d of %d octets", round, put, want)
				}
				put += n
			}
			if tcb.Unsent() == 0 {
				t.Fatalf("round %d: cwnd %d took the whole write: not cwnd-limited", round, tcb.cc.Window())
			}
			now += rtt
			acked()
			now += rtt
			acked()
			if tcb.sndUna != tcb.sndMax || tcb.Unsent() != 0 {
				t.Fatalf("round %d: text left", round)
			}
			now += idle
		}
		if now.Sub(tcb.lastSend) > tcb.rto {
			t.Fatalf("idle %v beyond the RTO %v", now.Sub(tcb.lastSend), tcb.rto)
		}
		return iw, tcb.cc.Window()
	}
	iw, busy := run(0)
	_, idle := run(100e6)
	if busy <= iw {
		t.Fatalf("cwnd %d did not grow from %d in 30 cwnd-limited rounds", busy, iw)
	}
	if idle != busy {
		t.Fatalf("cwnd %d after rounds 100 ms apart, %d after rounds back to back (from %d)", idle, busy, iw)
	}
}

// onTxStart moves a running epoch forward by the idle time, never past
// now, and leaves no epoch alone (Linux bictcp_cwnd_event).
func TestCubicTxStart(t *testing.T) {
	var c cubic
	c.init(1000)
	c.onTxStart(time.Second, 5e9)
	if c.epoch != 0 {
		t.Fatalf("epoch %d started by a send", c.epoch)
	}
	c.epoch = 5e9
	c.onTxStart(500*time.Millisecond, 7e9)
	if c.epoch != 5.5e9 {
		t.Fatalf("epoch %d, want 5.5e9", c.epoch)
	}
	c.onTxStart(2*time.Second, 7e9)
	if c.epoch != 7e9 {
		t.Fatalf("epoch %d beyond now 7e9", c.epoch)
	}
}
