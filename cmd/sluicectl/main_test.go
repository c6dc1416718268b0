package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
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

// TestMemoryPressure: a server with a 128 KiB memory limit whose handler
// pauses reading takes six kernel clients writing 192 KiB each (64 KiB
// windows: three times the limit in flight). The metrics endpoint and
// sluicectl's memory view show the budget under pressure, refusals and
// dropped segments; once reading resumes every octet arrives in order
// and the chunks go back (in use 0); the counts outlive the connections.
func TestMemoryPressure(t *testing.T) {
	const (
		limit   = 128 << 10
		clients = 6
		each    = 192 << 10
	)
	bed := testbed.New(t, testbed.Options{Queues: 1})
	var (
		mu    sync.Mutex
		conns []*sluice.Conn
		got   = map[*sluice.Conn]int{}
		bad   error
	)
	h := sluice.HandlerFuncs{
		Open: func(c *sluice.Conn) sluice.Action {
			c.PauseRead()
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			return sluice.None
		},
		Data: func(c *sluice.Conn, d []byte) sluice.Action {
			mu.Lock()
			defer mu.Unlock()
			off := got[c]
			for i, b := range d {
				if b != pat(off+i) && bad == nil {
					bad = fmt.Errorf("octet %d is %d, want %d", off+i, b, pat(off+i))
				}
			}
			got[c] = off + len(d)
			return sluice.None
		},
	}
	port := 8097
	srv, err := sluice.NewServer(sluice.Config{
		Interface: bed.Server.Link, Netns: bed.Server.Name, Listen: bed.Server.Listen(port),
		Loops: 1, Cores: []int{-1}, MSL: 250 * time.Millisecond, BusyPoll: -1,
		MemoryLimit: limit,
	}, h)
	srv = testbed.StartServer(t, srv, err)
	ep, err := metrics.Serve("127.0.0.1:0", srv, metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	addr := ep.Addr().String()
	num := func(expo, series string) float64 {
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(expo)
		if m == nil {
			t.Fatalf("no %s in the scrape", series)
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		return v
	}
	scrape := func() string {
		resp, err := http.Get("http://" + addr + metrics.PathMetrics)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	before := scrape()
	if v := num(before, "sluice_memory_limit_bytes"); v != limit {
		t.Errorf("limit gauge %v, want %d", v, limit)
	}
	for _, s := range []string{"sluice_memory_used_bytes", "sluice_memory_pressure", "sluice_memory_refused_total", `sluice_mem_dropped_total{queue="0"}`} {
		if v := num(before, s); v != 0 {
			t.Errorf("%s = %v before any traffic", s, v)
		}
	}

	want := make([]byte, each)
	for i := range want {
		want[i] = pat(i)
	}
	// Every connection is open (its 64 KiB window advertised, with no
	// pressure yet) before any text is sent, so the peers may send more
	// than the budget holds: once under pressure the server offers no
	// window beyond what it can store, but never moves an edge left.
	var wg sync.WaitGroup
	var peers []*net.TCPConn
	for range clients {
		peers = append(peers, bed.Peer.Dial(t, testbed.HostPort(bed.Server.IPv4, port)))
	}
	testbed.WaitFor(t, "every connection open", func() bool { mu.Lock(); defer mu.Unlock(); return len(conns) == clients })
	for _, pc := range peers {
		wg.Go(func() {
			pc.SetWriteDeadline(time.Now().Add(30 * time.Second))
			if _, err := pc.Write(want); err != nil {
				t.Errorf("peer write: %v", err)
			}
		})
	}
	var during string
	defer func() {
		if t.Failed() && during != "" {
			t.Logf("last scrape:\n%s", grepMemory(during))
		}
	}()
	testbed.WaitFor(t, "the budget refusing chunks and segments dropped", func() bool {
		during = scrape()
		return num(during, "sluice_memory_refused_total") > 0 && num(during, `sluice_mem_dropped_total{queue="0"}`) > 0
	})
	t.Logf("under load: used %v peak %v pressure %v entered %v refused %v forced %v; loop: mem_dropped %v chunks in use %v refused %v forced %v",
		num(during, "sluice_memory_used_bytes"), num(during, "sluice_memory_peak_bytes"), num(during, "sluice_memory_pressure"),
		num(during, "sluice_memory_pressure_entered_total"), num(during, "sluice_memory_refused_total"), num(during, "sluice_memory_forced_total"),
		num(during, `sluice_mem_dropped_total{queue="0"}`), num(during, `sluice_chunks_in_use{queue="0"}`),
		num(during, `sluice_chunks_refused_total{queue="0"}`), num(during, `sluice_chunks_forced_total{queue="0"}`))
	if num(during, "sluice_memory_pressure_entered_total") < 1 || num(during, "sluice_memory_peak_bytes") < limit*2/3 {
		t.Errorf("refusals without the pressure state having been entered")
	}
	if num(during, "sluice_memory_used_bytes") == 0 || num(during, `sluice_chunks_in_use{queue="0"}`) == 0 {
		t.Errorf("paused connections hold text, yet no memory in use")
	}

	mem := ctl(t, "-addr", addr, "memory")
	t.Logf("sluicectl memory:\n%s", mem)
	if !strings.Contains(mem, fmt.Sprintf("budget: limit %d,", limit)) {
		t.Error("memory view does not state the limit")
	}
	if v := memField(t, mem, "total", 8); v == 0 {
		t.Error("memory view's total row shows no dropped segments")
	}
	if v := field(t, ctl(t, "-addr", addr, "nstat"), "memory_refused"); v == 0 {
		t.Error("nstat shows no budget refusals")
	}

	mu.Lock()
	open := append([]*sluice.Conn(nil), conns...)
	mu.Unlock()
	if len(open) != clients {
		t.Fatalf("%d connections opened, want %d", len(open), clients)
	}
	for _, c := range open {
		if err := c.ResumeRead(); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	testbed.WaitFor(t, "every octet after ResumeRead", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range open {
			if got[c] < each {
				return false
			}
		}
		return true
	})
	mu.Lock()
	for _, c := range open {
		if got[c] != each {
			t.Errorf("a connection delivered %d octets, want %d", got[c], each)
		}
	}
	if bad != nil {
		t.Error(bad)
	}
	mu.Unlock()
	testbed.WaitFor(t, "the chunks given back", func() bool {
		return num(scrape(), `sluice_chunks_in_use{queue="0"}`) == 0
	})
	// Closed connections' counts stay in the totals.
	dropped := uint64(num(scrape(), `sluice_mem_dropped_total{queue="0"}`))
	for _, pc := range peers {
		pc.Close()
	}
	testbed.WaitFor(t, "the connections freed", func() bool {
		st, err := srv.Stats()
		return err == nil && st.Conns == 0 && st.Loops[0].Conns == 0
	})
	st, err := srv.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if m := st.Memory(); m.MemDropped != dropped || m.Refused == 0 || m.Limit != limit || m.ChunksInUse != 0 {
		t.Errorf("after close, Server.Stats().Memory() = %+v; want MemDropped %d as before", m, dropped)
	}
}

// grepMemory keeps the memory lines of an exposition.
func grepMemory(expo string) string {
	var b strings.Builder
	for _, l := range strings.Split(expo, "\n") {
		if strings.HasPrefix(l, "sluice_mem") || strings.HasPrefix(l, "sluice_chunks") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// pat is the test pattern's octet at offset i (period 251, prime, so a
// shifted or repeated run shows).
func pat(i int) byte { return byte(i % 251) }

// memField is the col'th number (1-based, after the name) of the memory
// view's row named name.
func memField(t *testing.T, out, name string, col int) int {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\s*` + name + `((?:\s+\d+)+)\s*$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %s row in:\n%s", name, out)
	}
	f := strings.Fields(m[1])
	if col > len(f) {
		t.Fatalf("%s row has %d columns", name, len(f))
	}
	v, _ := strconv.Atoi(f[col-1])
	return v
}
