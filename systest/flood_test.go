package systest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicenet/sluice/sched"
	"github.com/sluicenet/sluice/systest/live"
	"github.com/sluicenet/sluice/testbed"
	"github.com/sluicenet/sluice/testbed/pktgen"
	"github.com/sluicenet/sluice/wire"
)

// synFlood builds n SYNs from distinct spoofed sources (198.19.x.y, random
// ports and sequence numbers) to the server's listen address, each with
// the options a Linux SYN carries.
func synFlood(t *testing.T, s *live.Server, n int) [][]byte {
	frames := make([][]byte, n)
	for i := range frames {
		spec := wire.TCPFrameSpec{
			SrcMAC: macOf(s.Bed.Peer.MAC), DstMAC: macOf(s.Bed.Server.MAC),
			Src: spoofed(i), Dst: s.Addr.Addr(),
			SrcPort: uint16(1024 + i*7919%60000), DstPort: s.Addr.Port(),
			Seq: uint32(i) * 2654435761, Flags: wire.TCPFlagSYN, Window: 64240,
			Options: wire.TCPOptions{MSS: 1460, HasWScale: true, WScale: 7, SACKPermitted: true, HasTS: true, TSVal: uint32(i)},
		}
		frames[i] = frame(t, &spec, nil)
	}
	return frames
}

// TestSYNFlood: spoofed SYNs from the peer namespace at SLUICE_FLOOD_RATE
// per second (100k; 50k under -race, where a loaded CI machine
// falls behind) for SLUICE_FLOOD_SECONDS (10). The
// listener's SYN queue stays within its backlog, SYN cookies answer the
// rest (RFC 4987), the connection table does not grow with the flood, and
// legitimate clients (curl and Go net.Dial from the peer) are served while
// it lasts.
func TestSYNFlood(t *testing.T) {
	rate := envInt(t, "SLUICE_FLOOD_RATE", map[bool]int{false: 100_000, true: 50_000}[raceEnabled])
	secs := envInt(t, "SLUICE_FLOOD_SECONDS", 10)
	tcpc := live.TCPConfig(t)
	tcpc.SynBacklog = 256
	s := live.Start(t, live.Options{Loop: sched.LoopConfig{TCP: tcpc}})
	frames := synFlood(t, s, 1<<16)
	before := live.Total(s.Stats(t))

	var sent uint64
	floodDone := make(chan error, 1)
	start := time.Now()
	go func() {
		floodDone <- s.Bed.Peer.Do(func() error {
			g, err := pktgen.New(s.Bed.Peer.Ifindex, frames)
			if err != nil {
				return err
			}
			defer g.Close()
			sent, err = g.Run(pktgen.Limits{Duration: time.Duration(secs) * time.Second, Rate: rate})
			return err
		})
	}()

	// Watch the queues while the flood lasts.
	var maxSynQ, maxConns atomic.Int64
	stopWatch := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stopWatch:
				return
			case <-time.After(200 * time.Millisecond):
			}
			gs, err := s.Group.Stats()
			if err != nil {
				continue // the loop may be too busy to answer in time
			}
			tot := live.Total(gs)
			if int64(tot.SynQueue) > maxSynQ.Load() {
				maxSynQ.Store(int64(tot.SynQueue))
			}
			if int64(tot.Conns) > maxConns.Load() {
				maxConns.Store(int64(tot.Conns))
			}
		}
	})

	// Legitimate clients during the flood: one at a time, alternating curl
	// and a Go echo, until the flood ends. Each may take a few SYN
	// retransmissions if its SYN met a full RX ring.
	time.Sleep(500 * time.Millisecond)
	var served, tried int
	var failures []string
	haveCurl := true
	if _, err := exec.LookPath("curl"); err != nil {
		if testbed.InCI() {
			t.Fatal("curl not installed (apt package curl)")
		}
		haveCurl = false
	}
	deadline := start.Add(time.Duration(secs)*time.Second - time.Second)
	for i := 0; time.Now().Before(deadline) || tried < 4; i++ {
		if i > 0 {
			time.Sleep(200 * time.Millisecond) // a client every ~200 ms, not a second flood
		}
		tried++
		var err error
		if i%2 == 0 && haveCurl {
			err = curlOnce(s)
		} else {
			err = echoOnce(s)
		}
		if err != nil {
			failures = append(failures, err.Error())
		} else {
			served++
		}
	}
	err := <-floodDone
	elapsed := time.Since(start)
	close(stopWatch)
	wg.Wait()
	if err != nil {
		t.Fatalf("flood: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	after := live.Total(s.Stats(t))

	rxSeg := after.RxSegments - before.RxSegments
	txFrames := after.TxFrames - before.TxFrames
	ringFull := after.XSK.RxRingFull - before.XSK.RxRingFull
	t.Logf("flood: %d SYNs offered in %v (%.0f/s, asked %d/s); loop took %d segments (%.0f/s), sent %d frames; RX ring full %d, fill ring empty %d",
		sent, elapsed.Round(time.Millisecond), float64(sent)/elapsed.Seconds(), rate,
		rxSeg, float64(rxSeg)/elapsed.Seconds(), txFrames, ringFull, after.XSK.RxFillRingEmptyDescs-before.XSK.RxFillRingEmptyDescs)
	t.Logf("SYN queue peak %d (backlog %d), connections peak %d, listener drops %d; legitimate clients: %d of %d served",
		maxSynQ.Load(), tcpc.SynBacklog, maxConns.Load(), after.ListenerDrops-before.ListenerDrops, served, tried)
	cookies := cookiesSent(&before, &after)
	t.Logf("SYN cookies: %s", cookies.describe())

	if sent < uint64(rate*secs)/2 {
		t.Logf("the peer could offer only %d SYNs of %d asked: this machine cannot generate the full rate", sent, rate*secs)
	}
	if maxSynQ.Load() > int64(tcpc.SynBacklog) {
		t.Errorf("SYN queue reached %d, above its backlog %d", maxSynQ.Load(), tcpc.SynBacklog)
	}
	// The table holds at most the SYN queue, the accept queue and the
	// legitimate clients: the flood itself leaves no state behind its
	// cookies.
	if limit := int64(tcpc.SynBacklog + tcpc.AcceptBacklog + tried); maxConns.Load() > limit {
		t.Errorf("connection table reached %d, above SYN backlog + accept backlog + clients = %d", maxConns.Load(), limit)
	}
	if err := cookies.check(rxSeg, tcpc.SynBacklog); err != nil {
		t.Error(err)
	}
	if served != tried {
		t.Errorf("%d of %d legitimate clients failed during the flood: %v", tried-served, tried, failures)
	}
	// The server still serves afterwards, and the flood's half-open
	// connections time out of the SYN queue (SYN-ACK retries).
	if err := echoOnce(s); err != nil {
		t.Errorf("after the flood: %v", err)
	}
}

// curlOnce runs curl from the peer against the server's HTTP answer.
func curlOnce(s *live.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := s.Bed.Peer.Exec(ctx, "curl", "-sS", "--max-time", "15", fmt.Sprintf("http://%s/", s.Addr))
	if err != nil {
		return fmt.Errorf("curl: %w", err)
	}
	if out != "ok\n" {
		return fmt.Errorf("curl got %q", out)
	}
	return nil
}

// echoOnce dials from the peer with Go's net.Dial and checks an echo.
func echoOnce(s *live.Server) error {
	var c net.Conn
	if err := s.Bed.Peer.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", s.Addr.String(), 15*time.Second)
		return err
	}); err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	msg := []byte("legitimate")
	if _, err := c.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("echo: %w", err)
	}
	if string(got) != string(msg) {
		return errors.New("echo: wrong text")
	}
	return nil
}

// cookieCount is what the stats say about SYN cookies.
type cookieCount struct {
	sent, validated uint64
	direct          bool // counted by the loop, not inferred
	txFrames        uint64
}

func (c cookieCount) describe() string {
	if c.direct {
		return fmt.Sprintf("%d sent, %d validated", c.sent, c.validated)
	}
	return fmt.Sprintf("inferred from %d frames sent", c.txFrames)
}

// check: the flood was answered, beyond the SYN queue, statelessly.
func (c cookieCount) check(synsTaken uint64, backlog int) error {
	if c.direct {
		// Beyond the SYN queue's backlog every SYN taken is answered
		// with a cookie.
		if c.sent+uint64(backlog) < synsTaken*9/10 {
			return fmt.Errorf("%d SYN cookies sent for %d SYNs taken (backlog %d): the flood was not answered statelessly", c.sent, synsTaken, backlog)
		}
		// The legitimate clients came while the SYN queue was full of the
		// flood's half-open connections: they got in through cookies.
		if c.validated == 0 {
			return errors.New("no SYN cookie validated: legitimate clients did not get in through cookies")
		}
		return nil
	}
	// Without a cookie counter: the SYN queue can answer at most its
	// backlog with SYN-ACKs plus their retransmissions (SynAckRetries);
	// every further SYN-ACK is a cookie.
	if c.txFrames < uint64(backlog)*8 || c.txFrames < synsTaken/2 {
		return fmt.Errorf("%d frames sent for %d SYNs taken: SYN cookies did not answer the flood", c.txFrames, synsTaken)
	}
	return nil
}

func cookiesSent(before, after *sched.Stats) cookieCount {
	return cookieCount{
		direct: true, txFrames: after.TxFrames - before.TxFrames,
		sent: after.SynCookiesSent - before.SynCookiesSent, validated: after.SynCookiesValidated - before.SynCookiesValidated,
	}
}
