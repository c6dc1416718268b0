package systest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicenet/sluice/sched"
	"github.com/sluicenet/sluice/systest/live"
	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/testbed"
)

// TestConnLimit: with LoopConfig.MaxConns, connections beyond the bound
// are refused by dropping their SYNs (counted in LimitDrops), the table
// never holds more than the bound, and once connections close new ones get
// in (the clients' SYN retransmissions find room).
func TestConnLimit(t *testing.T) {
	const limit, extra = 200, 20
	s := live.Start(t, live.Options{Loop: sched.LoopConfig{TCP: live.TCPConfig(t), MaxConns: limit}})
	conns := make([]net.Conn, 0, limit)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range limit {
		conns = append(conns, s.DialPeer(t, s.Addr))
	}
	before := live.Total(s.Stats(t))
	// Beyond the bound: each SYN (and its retransmissions at 1 s and 2 s)
	// is dropped; the dial times out.
	var refused atomic.Int64
	var wg sync.WaitGroup
	for range extra {
		wg.Go(func() {
			var c net.Conn
			err := s.Bed.Peer.Do(func() (err error) {
				c, err = net.DialTimeout("tcp", s.Addr.String(), 2500*time.Millisecond)
				return err
			})
			if err == nil {
				c.Close()
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				refused.Add(1)
			} else {
				t.Errorf("over the limit: %v, want a timeout (SYN dropped, not reset)", err)
			}
		})
	}
	wg.Wait()
	after := live.Total(s.Stats(t))
	t.Logf("%d of %d dials over the limit timed out; limit drops %d; table %d", refused.Load(), extra, after.LimitDrops-before.LimitDrops, after.Conns)
	if refused.Load() != extra {
		t.Errorf("%d of %d dials over the limit were refused", refused.Load(), extra)
	}
	if d := after.LimitDrops - before.LimitDrops; d < extra {
		t.Errorf("limit drops moved by %d, want at least %d (one SYN per refused dial)", d, extra)
	}
	if after.Conns > limit {
		t.Errorf("table holds %d connections, above MaxConns %d", after.Conns, limit)
	}
	// Close some; the same number of new clients get in.
	for _, c := range conns[:extra] {
		c.Close()
	}
	conns = conns[extra:]
	testbed.WaitFor(t, "the closed connections to leave the table", func() bool { return live.Total(s.Stats(t)).Conns <= limit-extra })
	for i := range extra {
		c := s.DialPeer(t, s.Addr)
		conns = append(conns, c)
		roundTrip(t, c, []byte(fmt.Sprintf("after room %d", i)))
	}
	if st := live.Total(s.Stats(t)); st.Conns != limit || st.ByState[tcp.Established] != limit {
		t.Errorf("table %d, established %d; want %d", st.Conns, st.ByState[tcp.Established], limit)
	}
}

// TestTimeWaitChurn: short connections the server closes first (so the
// server holds TIME-WAIT) churned from the peer for SLUICE_TW_SECONDS (5)
// with 2*MSL = 500 ms and a compact TIME-WAIT table of 1024 entries per
// loop: the table never holds more than its bound (surplus connections
// close without TIME-WAIT and are counted as refused, as Linux's
// tcp_max_tw_buckets overflow), every client gets its echo and the
// server's FIN, and once churning stops everything drains to zero.
func TestTimeWaitChurn(t *testing.T) {
	secs := envInt(t, "SLUICE_TW_SECONDS", 5)
	const twMax = 1024
	tcpc := live.TCPConfig(t)
	tcpc.MSL = 250 * time.Millisecond
	s := live.Start(t, live.Options{CloseAfterEcho: true, Loop: sched.LoopConfig{TCP: tcpc, TimeWaitMax: twMax, SizeHint: 4096}})
	if _, err := s.Bed.Peer.Exec(t.Context(), "sysctl", "-qw", "net.ipv4.ip_local_port_range=1024 65535"); err != nil {
		t.Fatal(err)
	}

	var maxTW, maxConns atomic.Int64
	stop := make(chan struct{})
	var watch sync.WaitGroup
	watch.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if gs, err := s.Group.Stats(); err == nil {
				tot := live.Total(gs)
				if int64(tot.TimeWait) > maxTW.Load() {
					maxTW.Store(int64(tot.TimeWait))
				}
				if int64(tot.Conns) > maxConns.Load() {
					maxConns.Store(int64(tot.Conns))
				}
			}
		}
	})
	var done, failed atomic.Int64
	var firstErr atomic.Value
	deadline := time.Now().Add(time.Duration(secs) * time.Second)
	start := time.Now()
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			s.Bed.Peer.Do(func() error {
				d := net.Dialer{Timeout: 5 * time.Second}
				buf := make([]byte, 8)
				for time.Now().Before(deadline) {
					if err := churnOnce(&d, s.Addr.String(), buf); err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err.Error())
						continue
					}
					done.Add(1)
				}
				return nil
			})
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	time.Sleep(200 * time.Millisecond)
	mid := live.Total(s.Stats(t))
	// Everything drains after 2*MSL.
	testbed.WaitFor(t, "TIME-WAIT and the table to drain", func() bool {
		st := live.Total(s.Stats(t))
		return st.TimeWait == 0 && st.Conns == 0
	})
	close(stop)
	watch.Wait()
	end := live.Total(s.Stats(t))
	tw := end.TimeWaitTable
	t.Logf("%d short connections in %v (%.0f/s), %d failed (%v); TIME-WAIT table peak %d (bound %d): %d inserted, %d refused full, %d reopened, %d expired; TCB-served TIME-WAIT %d; table peak %d connections",
		done.Load(), elapsed.Round(time.Millisecond), float64(done.Load())/elapsed.Seconds(), failed.Load(), firstErr.Load(),
		maxTW.Load(), twMax, tw.Inserted, tw.RefusedFull, tw.Reopened, tw.Expired, end.TimeWaitFreed, maxConns.Load())
	if failed.Load() != 0 {
		t.Errorf("%d connections failed: first %v", failed.Load(), firstErr.Load())
	}
	if maxTW.Load() > twMax || mid.TimeWait > twMax {
		t.Errorf("TIME-WAIT table reached %d entries, above its bound %d", maxTW.Load(), twMax)
	}
	// Every server-closed connection reached TIME-WAIT: kept in the
	// table, or refused at its bound and closed at once (a TCB serves
	// TIME-WAIT only with the table off, so TimeWaitFreed stays 0 here).
	if got := tw.Inserted + tw.RefusedFull + end.TimeWaitFreed; got < uint64(done.Load()) {
		t.Errorf("%d TIME-WAITs (table %d + refused %d + TCB %d) for %d connections", got, tw.Inserted, tw.RefusedFull, end.TimeWaitFreed, done.Load())
	}
	// Every entry left the table counted: expired after 2*MSL, removed,
	// or reopened by a SYN of the client's reusing its port (RFC 6191).
	if tw.Expired+tw.Removed+tw.Reopened != tw.Inserted {
		t.Errorf("table: %d inserted, %d removed, %d reopened, %d expired: entries lost", tw.Inserted, tw.Removed, tw.Reopened, tw.Expired)
	}
}

// churnOnce: connect, send, read the echo and the server's FIN, close.
func churnOnce(d *net.Dialer, addr string, buf []byte) error {
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(buf); err != nil {
		return err
	}
	if _, err := io.ReadFull(c, buf); err != nil {
		return fmt.Errorf("echo: %w", err)
	}
	if n, err := c.Read(buf[:1]); n != 0 || err != io.EOF {
		return fmt.Errorf("want the server's FIN, got %d octets, %v", n, err)
	}
	return nil
}
