package metrics_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicenet/sluice"
	"github.com/sluicenet/sluice/metrics"
	"github.com/sluicenet/sluice/sched"
	"github.com/sluicenet/sluice/systest/live"
	"github.com/sluicenet/sluice/tcp"
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
		gs.Loops = append(gs.Loops, s)
	}
	gs.XDP.Redirected = 201
	gs.XDP.PassedNotIP = 4
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
