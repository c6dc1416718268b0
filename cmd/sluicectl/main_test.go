package main

import (
	"bytes"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicenet/sluice"
	"github.com/sluicenet/sluice/metrics"
	"github.com/sluicenet/sluice/systest/live"
	"github.com/sluicenet/sluice/testbed"
)

func TestMain(m *testing.M) { testbed.Main(m) }

func ctl(t *testing.T, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	if err := run(args, &out); err != nil {
		t.Fatalf("sluicectl %v: %v", args, err)
	}
	return out.String()
}

// TestAgainstLiveServer: sluicectl's ss, nstat and loops views of a live
// group serving three kernel clients show those connections and counters.
func TestAgainstLiveServer(t *testing.T) {
	s := live.Start(t, live.Options{})
	ep, err := metrics.Serve("127.0.0.1:0", metrics.Group(s.Group), metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	addr := ep.Addr().String()

	const n = 3
	for range n {
		c := s.DialPeer(t, s.Addr)
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write([]byte("ping"))
		if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
			t.Fatal(err)
		}
	}

	ss := ctl(t, "-addr", addr, "ss")
	t.Logf("ss:\n%s", ss)
	if !strings.Contains(ss, " estab 3 ") {
		t.Errorf("ss summary lacks 'estab 3'")
	}
	re := regexp.MustCompile(`(?m)^ESTAB\s+0\s+0\s+` + regexp.QuoteMeta(s.Addr.String()) + `\s+198\.18\.0\.2:\d+\s+0\s+\d+ms$`)
	if got := len(re.FindAllString(ss, -1)); got != n {
		t.Errorf("%d ESTAB lines like ss -tan, want %d", got, n)
	}

	ns := ctl(t, "-addr", addr, "nstat")
	t.Logf("nstat:\n%s", ns)
	if v := field(t, ns, "conns_established"); v != n {
		t.Errorf("conns_established %d, want %d", v, n)
	}
	if v := field(t, ns, "rx_text_bytes"); v != 4*n {
		t.Errorf("rx_text_bytes %d, want %d", v, 4*n)
	}
	if v := field(t, ns, "xdp_redirected"); v < 3*n {
		t.Errorf("xdp_redirected %d, want at least %d", v, 3*n)
	}
	if strings.Contains(ns, "tx_no_route") {
		t.Error("nstat printed a zero counter without -z")
	}
	if !strings.Contains(ctl(t, "-addr", addr, "nstat", "-z"), "tx_no_route") {
		t.Error("nstat -z left out a zero counter")
	}

	// Deltas: text sent during the interval shows up, text sent before
	// does not.
	c := s.DialPeer(t, s.Addr)
	defer c.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 10)
		for {
			select {
			case <-stop:
				return
			default:
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Write(buf); err != nil {
				return
			}
			if _, err := io.ReadFull(c, buf); err != nil {
				return
			}
		}
	})
	d := ctl(t, "-addr", addr, "nstat", "-d", "300ms")
	close(stop)
	wg.Wait()
	t.Logf("nstat -d:\n%s", d)
	if v := field(t, d, "rx_text_bytes"); v == 0 || v%10 != 0 {
		t.Errorf("rx_text_bytes delta %d, want a non-zero multiple of 10", v)
	}
	if v := field(t, d, "conns"); v != n+1 {
		t.Errorf("conns gauge in a delta view: %d, want its level %d", v, n+1)
	}
	if strings.Contains(d, "conns_established ") {
		t.Error("nstat -d shows connections established before the interval")
	}

	lp := ctl(t, "-addr", addr, "loops")
	t.Logf("loops:\n%s", lp)
	if !regexp.MustCompile(`(?m)^\s*total\s+\d+`).MatchString(lp) {
		t.Error("loops view has no total row")
	}
}

func field(t *testing.T, out, name string) int {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\s*` + name + `\s+(\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %s in:\n%s", name, out)
	}
	v, _ := strconv.Atoi(m[1])
	return v
}

// TestUsage: bad invocations say how to call.
func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"bogus"}, {"-nope"}} {
		var out bytes.Buffer
		err := run(args, &out)
		if err == nil || !strings.Contains(err.Error(), "usage:") {
			t.Errorf("%v: %v", args, err)
		}
	}
}

// TestDrops: the drops view lists each non-zero reason, the partial
// checksums accepted, and each fixable drop with its fix, and says when nothing fixable was dropped.
func TestDrops(t *testing.T) {
	var out bytes.Buffer
	s := &metrics.Snapshot{Total: metrics.LoopSnapshot{Drops: map[string]uint64{"bad_tcp_checksum": 4, "partial_tcp_checksum": 2, "truncated": 0}}}
	printDrops(&out, s)
	if got := out.String(); !regexp.MustCompile(`(?m)^bad_tcp_checksum\s+4$`).MatchString(got) || strings.Contains(got, "truncated") ||
		!strings.Contains(got, "nothing dropped for a reason you can fix") {
		t.Errorf("drops without fixable ones:\n%s", got)
	}
	if strings.Contains(out.String(), "accepted with a partial") {
		t.Errorf("drops lists partial checksums none were counted:\n%s", out.String())
	}
	s.Total.Counters = map[string]uint64{"rx_partial_checksums": 6}
	out.Reset()
	printDrops(&out, s)
	if got := out.String(); !strings.Contains(got, "accepted with a partial TCP checksum (veth peer's TX offload): 6") {
		t.Errorf("drops without the partial checksums accepted:\n%s", got)
	}
	s.Fixable = []sluice.FixableDrop{{Reason: "partial TCP checksum", Count: 2, Fix: "run `ethtool -K <device> tx off`"}}
	out.Reset()
	printDrops(&out, s)
	if got := out.String(); !strings.Contains(got, "partial TCP checksum: 2") || !strings.Contains(got, "fix: run `ethtool -K <device> tx off`") {
		t.Errorf("drops with a fixable one:\n%s", got)
	}
}
