package tcp_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/sluicenet/sluice/tcp"
	. "github.com/sluicenet/sluice/tcp/tcptest"
)

// With the peer silent, one segment is sent again at gaps that double
// (RFC 6298 §5.5) until the connection times out, under each option
// set: with SACK and an SRTT a tail loss probe may go first (RFC 8985
// §7.2), but never between the RTOs, where it would undo their backoff
// (issue 14 item 1: 0.2, 0.4, 0.6, 1.0, 1.2 s...).
func TestRTOBackoffUnderOptions(t *testing.T) {
	for _, o := range PeerOptionSets {
		t.Run(o.Name, func(t *testing.T) {
			cfg := tcp.DefaultConfig()
			cfg.DataRetries = 6
			h := New(t, cfg)
			r := h.HandshakeWith(irs, o.Opts)
			// One exchange first, for an SRTT.
			h.TCB.Write([]byte("x"), h.Now)
			h.Take()
			h.Advance(10 * time.Millisecond)
			h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 2})
			h.Take()
			h.TCB.Write([]byte("lost"), h.Now)
			var at []tcp.Instant
			for range 100 {
				for _, e := range h.Take() {
					if e.Seg.Seq == ISS+2 && bytes.Equal(e.Seg.Payload, []byte("lost")) {
						at = append(at, h.Now)
					}
				}
				if h.TCB.State() == tcp.Closed {
					break
				}
				h.Advance(h.TCB.Deadline().Sub(h.Now))
			}
			if !errors.Is(h.TCB.Err(), tcp.ErrTimeout) {
				t.Fatalf("state %v, err %v", h.TCB.State(), h.TCB.Err())
			}
			var gaps []time.Duration
			for i := 1; i < len(at); i++ {
				gaps = append(gaps, at[i].Sub(at[i-1]))
			}
			t.Logf("gaps %v", gaps)
			if n := len(at); n < cfg.DataRetries+1 || n > cfg.DataRetries+2 {
				t.Errorf("%d transmissions for %d retries", n, cfg.DataRetries)
			}
			for i := 2; i < len(gaps); i++ {
				if gaps[i] != min(2*gaps[i-1], cfg.MaxRTO) {
					t.Errorf("gap %d is %v after %v: not doubled", i, gaps[i], gaps[i-1])
				}
			}
			if len(gaps) > 1 && gaps[1] < gaps[0] {
				t.Errorf("first RTO after %v, the probe after %v", gaps[1], gaps[0])
			}
		})
	}
}
