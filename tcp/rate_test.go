package tcp

import (
	"testing"
	"time"
)

// A flight sent at one segment per millisecond and ACKed one per
// millisecond measures 1000 octets/ms; an app-limited flight marks its
// samples until it is delivered.
func TestRateSample(t *testing.T) {
	var q txQueue
	var s rateState
	var rs RateSample
	now := Instant(0)
	send := func(seq Seq) {
		r := q.push(seq, 1000, now, 1<<20)
		s.onSend(r, uint32(q.n-1)*1000, now)
	}
	for i := range 20 {
		send(Seq(i * 1000))
		now += ms
	}
	// ACKs begin 20 ms after the first send, one segment each.
	for i := 1; i <= 20; i++ {
		now = Instant(19+i) * ms
		q.ackTo(Seq(i*1000), func(r *txRecord) { s.onDelivered(r, now) })
		s.sample(&rs, 0)
		if rs.Acked != 1000 || rs.TotalDelivered != uint64(i*1000) {
			t.Fatalf("ACK %d: acked %d total %d", i, rs.Acked, rs.TotalDelivered)
		}
	}
	// The last sample: 20 segments delivered since the first was sent
	// (snapshot 0 at 0, delivered time reset to 0); interval max(send
	// 19 ms, ack 39 ms).
	if rs.Delivered != 20000 || rs.Interval != 39*time.Millisecond {
		t.Fatalf("sample %d octets over %v", rs.Delivered, rs.Interval)
	}
	// Steady state: one segment sent and one ACKed (20 ms later) per ms.
	for j := range 60 {
		now = 40*ms + Instant(j)*ms
		send(Seq((20 + j) * 1000))
		if j >= 20 {
			q.ackTo(Seq((j+1)*1000), func(r *txRecord) { s.onDelivered(r, now) })
			s.sample(&rs, 10*time.Millisecond)
		}
	}
	if got := rs.Rate(); got != 1_000_000 || rs.Interval < 20*time.Millisecond {
		t.Fatalf("steady rate %d octets/s (%d over %v), want 1e6 over a round trip", got, rs.Delivered, rs.Interval)
	}
	if rs.AppLimited {
		t.Fatal("sample app-limited without a mark")
	}
	s.sample(&rs, 0)
	if rs.Interval != 0 || rs.Rate() != 0 {
		t.Fatal("an ACK that delivered nothing gave a rate")
	}

	// Application-limited: the mark covers the flight sent under it.
	s.markAppLimited(0)
	send(80000)
	now += 30 * ms
	q.ackTo(81000, func(r *txRecord) { s.onDelivered(r, now) })
	s.sample(&rs, 0)
	if !rs.AppLimited {
		t.Fatal("sample of an app-limited send not marked")
	}
	if s.appLimited != 0 {
		t.Fatal("app-limited mark survives the delivery of its flight")
	}
	send(81000)
	now += 30 * ms
	q.ackTo(82000, func(r *txRecord) { s.onDelivered(r, now) })
	s.sample(&rs, 40*time.Millisecond)
	if rs.AppLimited || rs.Interval != 0 {
		t.Fatalf("after the mark: app-limited %v interval %v (30 ms < min RTT 40 ms must be rejected)", rs.AppLimited, rs.Interval)
	}
}

func TestMinmax(t *testing.T) {
	var m minmax
	m.updateMax(0, 10, 5)
	m.updateMax(1, 10, 3)
	if m.get() != 5 {
		t.Fatalf("max %d", m.get())
	}
	m.updateMax(4, 10, 4)
	m.updateMax(12, 10, 2) // 5 (t=0) has expired: 4 (t=4) remains
	if m.get() != 4 {
		t.Fatalf("after expiry max %d, want 4", m.get())
	}
	m.updateMax(30, 10, 1) // everything expired
	if m.get() != 1 {
		t.Fatalf("max %d, want 1", m.get())
	}
	var n minmax
	n.updateMin(0, 100, 50)
	n.updateMin(10, 100, 60)
	n.updateMin(20, 100, 40)
	if n.get() != 40 {
		t.Fatalf("min %d", n.get())
	}
}
