package sluice

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/tcp/timewait"
	"github.com/sluicenet/sluice/testbed"
)

// TestTimeWaitShare: Config.TimeWaitMax is split over the loops, rounded
// up; 0 takes the host's tcp_max_tw_buckets, else timewait.DefaultMax; a
// share above the table's limit is an error when asked for, clamped when
// derived.
func TestTimeWaitShare(t *testing.T) {
	for _, c := range []struct {
		max, loops, host int
		share            int
		from             string
	}{
		{max: 1000, loops: 3, host: 131072, share: 334, from: "Config.TimeWaitMax"},
		{max: 0, loops: 2, host: 131072, share: 65536, from: "tcp_max_tw_buckets"},
		{max: 0, loops: 1, host: 0, share: timewait.DefaultMax, from: "default"},
		{max: 0, loops: 1, host: 1 << 30, share: timewait.MaxLimit, from: "tcp_max_tw_buckets"},
		{max: timewait.MaxLimit + 1, loops: 1, from: "error"},
	} {
		cfg := Config{TimeWaitMax: c.max}
		share, from, err := cfg.timeWaitShare(c.loops, c.host)
		if c.from == "error" {
			if err == nil || !strings.Contains(err.Error(), "Config.TimeWaitMax") {
				t.Errorf("%+v: share %d, err %v; want a Config.TimeWaitMax error", c, share, err)
			}
			continue
		}
		if err != nil || share != c.share || !strings.Contains(from, c.from) {
			t.Errorf("%+v: share %d from %q (%v); want %d from %q", c, share, from, err, c.share, c.from)
		}
	}
}

// closeFirst echoes once and closes: the server closes first, so each
// connection ends in the server's TIME-WAIT.
type closeFirst struct{ NopHandler }

func (closeFirst) OnData(c *Conn, data []byte) Action {
	c.Write(data)
	return Close
}

// TestTimeWaitOverflow: past Config.TimeWaitMax a connection the server
// closed first closes without TIME-WAIT, as Linux's past
// tcp_max_tw_buckets: the client's close completes (EOF, no error), the
// overflow is counted in Stats.TimeWaitOverflow, and no TCB stays behind
// (the server holds only its bounded entries).
func TestTimeWaitOverflow(t *testing.T) {
	const max, n = 3, 12
	bed := newBed(t, 1)
	cfg := testConfig(bed, 7510)
	cfg.MSL = 30 * time.Second // nothing expires during the test
	cfg.TimeWaitMax = max
	s := startServer(t, cfg, closeFirst{})
	if got := s.Info().TimeWaitMax; got != max {
		t.Errorf("Info.TimeWaitMax %d, want %d", got, max)
	}
	addr := testbed.HostPort(bed.Server.IPv4, 7510)
	for i := range n {
		c := bed.Peer.Dial(t, addr)
		msg := fmt.Appendf(nil, "conn %d", i)
		roundTrip(t, c, msg)
		if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
			t.Fatalf("conn %d: after the echo read %q, %v; want EOF", i, b, err)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("conn %d: close: %v", i, err)
		}
	}
	var st Stats
	testbed.WaitFor(t, "every connection out of the loop's table", func() bool {
		var err error
		st, err = s.Stats()
		return err == nil && st.Loops[0].Conns == 0 && st.Loops[0].TimeWait+int(st.TimeWaitOverflow) == n
	})
	l := st.Loops[0]
	if l.TimeWait != max || st.TimeWaitOverflow != n-max || l.ByState[tcp.TimeWait] != max || l.TimeWaitFreed != 0 {
		t.Errorf("TIME-WAIT: %d entries (%d in all), %d overflowed, %d TCBs served it; want %d, %d, %d, 0",
			l.TimeWait, l.ByState[tcp.TimeWait], st.TimeWaitOverflow, l.TimeWaitFreed, max, max, n-max)
	}
	if l.Created != n || l.Freed != n {
		t.Errorf("TCBs created %d, freed %d; want %d each", l.Created, l.Freed, n)
	}
}
