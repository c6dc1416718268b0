package sched

import (
	"testing"
	"time"

	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/tcp/timewait"
)

// overflowPipe is a pipe whose loop has a TIME-WAIT table of max entries
// and a handler that echoes once and closes first, so every connection
// ends in the server's TIME-WAIT.
func overflowPipe(t *testing.T, max int) (*pipe, *tcp.Config) {
	cfg := tcp.DefaultConfig()
	cfg.MSL = 30 * time.Second // nothing expires during the test
	p := newPipe(t, &closer{}, &cfg)
	tw, err := timewait.New(timewait.Config{MSL: cfg.MSL, Max: max})
	if err != nil {
		t.Fatal(err)
	}
	p.l.tw = tw
	return p, &cfg
}

// TestPipeTimeWaitOverflow: past the table's bound a connection that
// reaches TIME-WAIT closes without it, as Linux's past tcp_max_tw_buckets:
// the peer's close completes normally, the overflow is counted, no TCB is
// kept (the loop holds only the bounded table), and once warm such
// connections allocate nothing, so memory stays bounded however many
// overflow. The trade-off Linux accepts too: a retransmitted final FIN of
// an overflowed 4-tuple is answered with a RST, not an ACK.
func TestPipeTimeWaitOverflow(t *testing.T) {
	const max, n = 4, 50
	p, _ := overflowPipe(t, max)
	for i := range n {
		if st := p.churnOne(t, uint16(41000+i), bye); st != tcp.Closed {
			t.Fatalf("connection %d: client in %v after its close, want CLOSED", i, st)
		}
		if p.l.conns.Len() != 0 {
			t.Fatalf("connection %d: %d TCBs held after the close", i, p.l.conns.Len())
		}
	}
	st, _ := p.l.Stats(0)
	tw := st.TimeWaitTable
	if st.TimeWait != max || tw.Inserted != max || tw.RefusedFull != n-max {
		t.Errorf("table: %d entries, %d inserted, %d overflowed; want %d, %d, %d", st.TimeWait, tw.Inserted, tw.RefusedFull, max, max, n-max)
	}
	if st.Conns != 0 || st.ByState[tcp.TimeWait] != max || st.Entered[tcp.TimeWait] != max || st.TimeWaitFreed != 0 {
		t.Errorf("conns %d, TIME-WAIT %d (entered %d), TCBs that served TIME-WAIT %d; want 0, %d (%d), 0",
			st.Conns, st.ByState[tcp.TimeWait], st.Entered[tcp.TimeWait], st.TimeWaitFreed, max, max)
	}
	if st.Created != n || st.Freed != n || st.Closed != n {
		t.Errorf("created %d, freed %d, closed %d; want %d each", st.Created, st.Freed, st.Closed, n)
	}
	port := uint16(42000)
	p.check = nil // it allocates; the loop is what is measured
	if allocs := testing.AllocsPerRun(100, func() { port++; p.churnOne(t, port, bye) }); allocs != 0 {
		t.Errorf("%v allocations per overflowing connection", allocs)
	}
	if st, _ = p.l.Stats(0); st.TimeWait != max || st.Conns != 0 {
		t.Errorf("after more churn: %d entries, %d conns; want %d, 0", st.TimeWait, st.Conns, max)
	}

	// The server's ACK of the client's FIN is lost: the retransmitted FIN
	// finds no TIME-WAIT and is reset.
	port++
	id := tcp.ID{LocalAddr: pipeClient.Addr(), RemoteAddr: pipeServer.Addr(), LocalPort: port, RemotePort: pipeServer.Port()}
	p.cli = tcp.Open(&p.cfg, id, p, p.now)
	p.pump()
	p.cli.Write(bye, p.now)
	p.pump()
	p.read()
	p.cli.Close(p.now)
	p.drop = true
	p.pump()
	p.drop = false
	if p.cli.State() != tcp.LastAck || p.l.conns.Len() != 0 {
		t.Fatalf("client in %v, server holds %d TCBs; want LAST-ACK, 0", p.cli.State(), p.l.conns.Len())
	}
	p.advance(1500 * time.Millisecond) // the client's RTO
	if tcp.Flags(p.frame.Flags)&tcp.FlagRST == 0 || p.cli.State() != tcp.Closed {
		t.Errorf("retransmitted FIN: answered with flags %v, client in %v; want a RST, CLOSED", tcp.Flags(p.frame.Flags), p.cli.State())
	}
}
