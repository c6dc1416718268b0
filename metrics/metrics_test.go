package metrics_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicenet/sluice"
	"github.com/sluicenet/sluice/metrics"
	"github.com/sluicenet/sluice/sched"
	"github.com/sluicenet/sluice/systest/live"
	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/tcp/chunk"
	"github.com/sluicenet/sluice/testbed"
	"github.com/sluicenet/sluice/wire"
)

func TestMain(m *testing.M) { testbed.Main(m) }

// fakeStats is a two-loop GroupStats with distinct values everywhere the
// tests look.
func fakeStats() sched.GroupStats {
	var gs sched.GroupStats
	for q := range 2 {
		var s sched.Stats
		s.Queue = q
		s.RxFrames = uint64(100 + q)
		s.TxBytes = uint64(5000 * (q + 1))
		s.Drops[wire.DropBadTCPChecksum] = uint64(3 + q)
		s.ByState[tcp.Established] = 7 + q
		s.TimeWait = 2
		s.ByState[tcp.TimeWait] = 2
		s.Conns = 7 + q
		s.XSK.RxRingFull = 9
		s.PartialChecksums = uint64(20 + q)
		s.TCP.MemDropped = uint64(30 + q)
		s.TCP.OOOPruned = uint64(4096 * (q + 1))
		s.Pool.InUse = 50 + q
		s.Pool.Refused = uint64(60 + q)
		s.Pool.Forced = uint64(q)
		gs.Loops = append(gs.Loops, s)
	}
	gs.XDP.Redirected = 201
	gs.XDP.PassedNotIP = 4
	gs.Budget.Low, gs.Budget.Pressure, gs.Budget.High = 1<<20, 4<<20/3, 2<<20
	gs.Budget.Used, gs.Budget.Peak = 1<<20+4096, 2<<20
	gs.Budget.UnderPressure = true
	gs.Budget.PressureEntered, gs.Budget.Refused, gs.Budget.Forced = 2, 70, 3
	return gs
}

// TestSnapshotSums: per-loop values keep their queue, the total is their
// sum, states use RFC names, drops the reason's snake-case name.
func TestSnapshotSums(t *testing.T) {
	gs := fakeStats()
	s := metrics.FromStats(&sluice.Stats{GroupStats: gs}, time.Now())
	if len(s.Loops) != 2 || s.Loops[1].Queue != 1 || s.Total.Queue != -1 {
		t.Fatalf("loops %+v", s.Loops)
	}
	if got := s.Total.Counters["rx_frames"]; got != 201 {
		t.Errorf("total rx_frames %d, want 201", got)
	}
	if got := s.Total.Counters["rx_dropped"]; got != 7 {
		t.Errorf("total rx_dropped %d, want 7", got)
	}
	if got := s.Total.Drops["bad_tcp_checksum"]; got != 7 {
		t.Errorf("total drops %v", s.Total.Drops)
	}
	if got := s.Total.States["ESTABLISHED"]; got != 15 {
		t.Errorf("ESTABLISHED %d, want 15", got)
	}
	if got := s.Total.Counters["xsk_rx_ring_full"]; got != 18 {
		t.Errorf("xsk_rx_ring_full %d, want 18", got)
	}
	if got := s.Total.Counters["rx_partial_checksums"]; got != 41 {
		t.Errorf("total rx_partial_checksums %d, want 41", got)
	}
	if s.XDP["redirected"] != 201 || s.XDP["passed_not_ip"] != 4 {
		t.Errorf("xdp %v", s.XDP)
	}
	for _, n := range metrics.Names() {
		if _, ok := s.Loops[0].Counters[n]; !ok {
			t.Errorf("snapshot lacks %q", n)
		}
	}
}

// TestCollector: the Prometheus view has one series per queue, the drop
// and state families are labelled, the XDP verdicts are there, and a
// failing source is reported as a scrape error instead of stale values.
func TestCollector(t *testing.T) {
	gs := fakeStats()
	c := metrics.NewCollector(metrics.SourceFunc(func() (sluice.Stats, error) { return sluice.Stats{GroupStats: gs}, nil }))
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			key := mf.GetName()
			for _, l := range m.Label {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			found[key] = v
		}
	}
	for k, v := range map[string]float64{
		"sluice_drops_total,queue=1,reason=bad_tcp_checksum": 4,
		"sluice_connections,queue=0,state=established":       7,
		"sluice_connections,queue=1,state=time_wait":         2,
		"sluice_xdp_verdicts_total,verdict=redirected":       201,
		"sluice_tx_bytes_total,queue=1":                      10000,
		"sluice_rx_partial_checksums_total,queue=1":          21,
		"sluice_conns,queue=1":                               8,
		"sluice_scrape_error":                                0,
		"sluice_mem_dropped_total,queue=1":                   31,
		"sluice_ooo_pruned_bytes_total,queue=1":              8192,
		"sluice_chunks_in_use,queue=0":                       50,
		"sluice_chunks_refused_total,queue=1":                61,
		"sluice_memory_limit_bytes":                          2 << 20,
		"sluice_memory_low_bytes":                            1 << 20,
		"sluice_memory_used_bytes":                           1<<20 + 4096,
		"sluice_memory_peak_bytes":                           2 << 20,
		"sluice_memory_pressure":                             1,
		"sluice_memory_pressure_entered_total":               2,
		"sluice_memory_refused_total":                        70,
		"sluice_memory_forced_total":                         3,
	} {
		if got, ok := found[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}

	bad := metrics.NewCollector(metrics.SourceFunc(func() (sluice.Stats, error) { return sluice.Stats{GroupStats: gs}, errors.New("loop stuck") }))
	reg2 := prometheus.NewRegistry()
	reg2.MustRegister(bad)
	mfs, err = reg2.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "sluice_scrape_error":
			if v := mf.Metric[0].GetGauge().GetValue(); v != 1 {
				t.Errorf("scrape_error %v with a failing source", v)
			}
		case "sluice_scrape_errors_total":
			if v := mf.Metric[0].GetCounter().GetValue(); v != 1 {
				t.Errorf("scrape_errors_total %v after one failed scrape", v)
			}
		default:
			t.Errorf("failing source still gave %s", mf.GetName())
		}
	}
}

// TestMemoryExposition: the memory series have the type their name says
// (a _total counter, a gauge otherwise) and help text, in the text
// exposition too; the snapshot sums the per-loop memory counters and
// carries the budget; a server without a budget exports no budget series.
func TestMemoryExposition(t *testing.T) {
	gs := fakeStats()
	ts := httptest.NewServer(metrics.Handler(metrics.SourceFunc(func() (sluice.Stats, error) { return sluice.Stats{GroupStats: gs}, nil }), metrics.Options{}))
	defer ts.Close()
	expo := scrape(t, ts.URL+metrics.PathMetrics)
	for name, typ := range map[string]string{
		"sluice_mem_dropped_total":               "counter",
		"sluice_ooo_pruned_bytes_total":          "counter",
		"sluice_chunks_in_use":                   "gauge",
		"sluice_chunks_reserved":                 "gauge",
		"sluice_chunks_forced_total":             "counter",
		"sluice_memory_limit_bytes":              "gauge",
		"sluice_memory_pressure_threshold_bytes": "gauge",
		"sluice_memory_used_bytes":               "gauge",
		"sluice_memory_pressure":                 "gauge",
		"sluice_memory_refused_total":            "counter",
	} {
		if !strings.Contains(expo, "\n# TYPE "+name+" "+typ+"\n") {
			t.Errorf("no TYPE %s %s line", name, typ)
		}
		if !regexp.MustCompile(`(?m)^# HELP ` + name + ` \S.{10,}$`).MatchString(expo) {
			t.Errorf("no HELP text for %s", name)
		}
	}
	if v := value(t, expo, `sluice_memory_pressure_threshold_bytes`); v != 4<<20/3 {
		t.Errorf("pressure threshold %v", v)
	}
	if v := value(t, expo, `sluice_mem_dropped_total{queue="0"}`); v != 30 {
		t.Errorf("mem_dropped queue 0: %v", v)
	}

	s := metrics.FromStats(&sluice.Stats{GroupStats: gs}, time.Now())
	for k, want := range map[string]uint64{"mem_dropped": 61, "ooo_pruned_bytes": 3 * 4096, "chunks_in_use": 101, "chunks_refused": 121, "chunks_forced": 1} {
		if got := s.Total.Counters[k]; got != want {
			t.Errorf("total %s = %d, want %d", k, got, want)
		}
	}
	if s.Memory["limit_bytes"] != 2<<20 || s.Memory["pressure"] != 1 || s.Memory["refused"] != 70 {
		t.Errorf("snapshot memory %v", s.Memory)
	}
	if len(s.Memory) != len(metrics.MemoryNames()) {
		t.Errorf("snapshot memory has %d values, table %d", len(s.Memory), len(metrics.MemoryNames()))
	}
	if !metrics.IsGauge("memory_used_bytes") || metrics.IsGauge("memory_refused") || !metrics.IsGauge("chunks_in_use") || metrics.IsGauge("mem_dropped") {
		t.Error("IsGauge disagrees with the memory table's kinds")
	}

	gs.Budget = chunk.BudgetStats{}
	if s := metrics.FromStats(&sluice.Stats{GroupStats: gs}, time.Now()); s.Memory != nil {
		t.Errorf("no budget, snapshot memory %v", s.Memory)
	}
	expo = scrape(t, ts.URL+metrics.PathMetrics)
	if strings.Contains(expo, "sluice_memory_") {
		t.Error("no budget, yet sluice_memory_ series")
	}
	if !strings.Contains(expo, "sluice_mem_dropped_total") {
		t.Error("no budget: the connections' memory counters must stay")
	}
}

// scrape fetches url and returns the body.
func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v: %s", url, resp.StatusCode, err, b)
	}
	return string(b)
}

// value finds a sample line "name{labels} value" in an exposition.
func value(t *testing.T, expo, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(expo, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			var v float64
			if err := json.Unmarshal([]byte(rest), &v); err != nil {
				t.Fatalf("%s: %q", series, rest)
			}
			return v
		}
	}
	t.Fatalf("no %s in the scrape", series)
	return 0
}

// TestLiveScrape: a group on the testbed serves echo traffic from the
// kernel peer; between two scrapes of /metrics the frame, byte, connection
// and XDP counters move by at least what the traffic implies, and the JSON
// snapshot lists the open connections as ESTABLISHED.
func TestLiveScrape(t *testing.T) {
	s := live.Start(t, live.Options{})
	ep, err := metrics.Serve("127.0.0.1:0", metrics.Group(s.Group), metrics.Options{Runtime: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	before := scrape(t, ep.URL()+metrics.PathMetrics)

	const n = 5
	msg := []byte("hello through sluice")
	for i := range n {
		c := s.DialPeer(t, s.Addr)
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatalf("conn %d echo: %v", i, err)
		}
	}
	after := scrape(t, ep.URL()+metrics.PathMetrics)
	for _, m := range []struct {
		series string
		min    float64
	}{
		{`sluice_rx_frames_total{queue="0"}`, 3 * n}, // SYN, ACK, text
		{`sluice_rx_bytes_total{queue="0"}`, 3 * n * 54},
		{`sluice_rx_text_bytes_total{queue="0"}`, float64(n * len(msg))},
		{`sluice_tx_frames_total{queue="0"}`, 2 * n}, // SYN-ACK, echo
		{`sluice_conns_established_total{queue="0"}`, n},
		{`sluice_xdp_verdicts_total{verdict="redirected"}`, 3 * n},
	} {
		d := value(t, after, m.series) - value(t, before, m.series)
		t.Logf("%s moved by %v", m.series, d)
		if d < m.min {
			t.Errorf("%s moved by %v, want at least %v", m.series, d, m.min)
		}
	}
	if v := value(t, after, `sluice_connections{queue="0",state="established"}`); v != n {
		t.Errorf("established gauge %v, want %d", v, n)
	}
	if !strings.Contains(after, "go_goroutines") {
		t.Error("Runtime: no Go collector in /metrics")
	}

	var snap metrics.Snapshot
	if err := json.Unmarshal([]byte(scrape(t, ep.URL()+metrics.PathSnapshot+"?conns=100")), &snap); err != nil {
		t.Fatal(err)
	}
	if len(snap.Conns) != n {
		t.Fatalf("snapshot lists %d connections, want %d: %+v", len(snap.Conns), n, snap.Conns)
	}
	for _, c := range snap.Conns {
		if c.State != "ESTABLISHED" || c.Local != s.Addr || c.Remote.Addr() != s.Bed.Peer.IPv4 {
			t.Errorf("conn %+v", c)
		}
	}
	if snap.Total.States["ESTABLISHED"] != n {
		t.Errorf("snapshot states %v", snap.Total.States)
	}
}
