package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/wire"
)

// Collector is a prometheus.Collector over a Source. Every Collect takes a
// fresh snapshot (one posted function per loop); register it once per
// group:
//
//	reg.MustRegister(metrics.NewCollector(group))
type Collector struct {
	src     Source
	loop    []*prometheus.Desc // by loopMetrics index
	memory  []*prometheus.Desc // by budgetMetrics index
	drops   *prometheus.Desc
	conns   *prometheus.Desc
	xdp     *prometheus.Desc
	fanout  *prometheus.Desc
	xskErr  *prometheus.Desc
	scrapes *prometheus.Desc
	errs    prometheus.Counter
}

// NewCollector returns a collector reading src at every scrape.
func NewCollector(src Source) *Collector {
	q := []string{"queue"}
	c := &Collector{
		src:   src,
		drops: prometheus.NewDesc("sluice_drops_total", "Frames the parser rejected, by wire.DropReason.", []string{"queue", "reason"}, nil),
		conns: prometheus.NewDesc("sluice_connections", "Connections by RFC 9293 state (compact TIME-WAIT entries included).", []string{"queue", "state"}, nil),
		xdp: prometheus.NewDesc("sluice_xdp_verdicts_total",
			"Frames the XDP steering program handled, by verdict (redirected to AF_XDP, or passed to the kernel and why), summed over CPUs.", []string{"verdict"}, nil),
		fanout:  prometheus.NewDesc("sluice_xdp_fanout_total", "Redirected frames whose socket was picked by software steering.", nil, nil),
		xskErr:  prometheus.NewDesc("sluice_xsk_stats_error", "1 when the loop's AF_XDP socket statistics could not be read.", q, nil),
		scrapes: prometheus.NewDesc("sluice_scrape_error", "1 when the last scrape could not read the group (a loop did not answer).", nil, nil),
		errs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_scrape_errors_total", Help: "Scrapes that could not read the group.",
		}),
	}
	for i := range loopMetrics {
		m := &loopMetrics[i]
		c.loop = append(c.loop, prometheus.NewDesc(promName(m.name, m.kind), m.help, q, nil))
	}
	for i := range budgetMetrics {
		m := &budgetMetrics[i]
		c.memory = append(c.memory, prometheus.NewDesc(promName("memory_"+m.name, m.kind), m.help, nil, nil))
	}
	return c
}

func (k kind) valueType() prometheus.ValueType {
	if k == gauge {
		return prometheus.GaugeValue
	}
	return prometheus.CounterValue
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.loop {
		ch <- d
	}
	for _, d := range c.memory {
		ch <- d
	}
	for _, d := range []*prometheus.Desc{c.drops, c.conns, c.xdp, c.fanout, c.xskErr, c.scrapes} {
		ch <- d
	}
	c.errs.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s, err := Take(c.src)
	if err != nil {
		c.errs.Inc()
		c.errs.Collect(ch)
		ch <- prometheus.MustNewConstMetric(c.scrapes, prometheus.GaugeValue, 1)
		return
	}
	c.errs.Collect(ch)
	ch <- prometheus.MustNewConstMetric(c.scrapes, prometheus.GaugeValue, 0)
	for li := range s.Loops {
		l := &s.Loops[li]
		q := strconv.Itoa(l.Queue)
		for i := range loopMetrics {
			m := &loopMetrics[i]
			ch <- prometheus.MustNewConstMetric(c.loop[i], m.kind.valueType(), float64(l.Counters[m.name]), q)
		}
		for r := wire.DropReason(1); r < wire.NumDropReasons; r++ {
			ch <- prometheus.MustNewConstMetric(c.drops, prometheus.CounterValue, float64(l.Drops[dropLabel(r)]), q, dropLabel(r))
		}
		for st := tcp.SynSent; st <= tcp.TimeWait; st++ {
			ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(l.States[st.String()]), q, stateLabel(st))
		}
		bad := 0.0
		if l.XSKError != "" {
			bad = 1
		}
		ch <- prometheus.MustNewConstMetric(c.xskErr, prometheus.GaugeValue, bad, q)
	}
	if s.Memory != nil {
		for i := range budgetMetrics {
			m := &budgetMetrics[i]
			ch <- prometheus.MustNewConstMetric(c.memory[i], m.kind.valueType(), float64(s.Memory[m.name]))
		}
	}
	if s.XDPError == "" {
		for _, v := range xdpVerdicts {
			ch <- prometheus.MustNewConstMetric(c.xdp, prometheus.CounterValue, float64(s.XDP[v.label]), v.label)
		}
		ch <- prometheus.MustNewConstMetric(c.fanout, prometheus.CounterValue, float64(s.XDP["fanout"]))
	}
}
