package main

// Plots with gonum.org/v1/plot, each as PNG and SVG in the output directory:
//
//	latency-cdf-<workload>.{png,svg}  latency CDFs of every server (keep-alive
//	                                  closed loop; open loop at 50% and at the
//	                                  common rate), log time axis
//	throughput.{png,svg}              bars of keep-alive requests/s and close
//	                                  connections/s, and CPU per request

import (
	"image/color"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/HdrHistogram/hdrhistogram-go"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// hists keeps the latency histograms of the runs, merged per (workload,
// server), for the CDF plots.
var hists = struct {
	sync.Mutex
	m     map[string]map[string]*hdrhistogram.Histogram
	order []string
}{m: map[string]map[string]*hdrhistogram.Histogram{}}

func keepHist(workload, impl string, s sample) {
	if s.res == nil || s.res.Latency == nil || s.res.Latency.TotalCount() == 0 {
		return
	}
	hists.Lock()
	defer hists.Unlock()
	if hists.m[workload] == nil {
		hists.m[workload] = map[string]*hdrhistogram.Histogram{}
		hists.order = append(hists.order, workload)
	}
	if h := hists.m[workload][impl]; h != nil {
		h.Merge(s.res.Latency)
	} else {
		hists.m[workload][impl] = hdrhistogram.Import(s.res.Latency.Export())
	}
}

// plotWorkloads are the histograms drawn; the others (25%, 75%) are in the
// table only.
var plotWorkloads = []string{"keepalive", "latency @50%", "latency @common"}

// writePlots draws what the run measured and returns the files written.
func writePlots(dir string, rep Report) ([]string, error) {
	var files []string
	save := func(p *plot.Plot, name string, w, h vg.Length) error {
		for _, ext := range []string{".png", ".svg"} {
			f := filepath.Join(dir, name+ext)
			if err := p.Save(w, h, f); err != nil {
				return err
			}
			files = append(files, f)
		}
		return nil
	}
	hists.Lock()
	defer hists.Unlock()
	for _, w := range plotWorkloads {
		byImpl := hists.m[w]
		if len(byImpl) == 0 {
			continue
		}
		p := plot.New()
		p.Title.Text = "latency CDF — " + w
		p.X.Label.Text = "latency (µs, log)"
		p.Y.Label.Text = "fraction of requests"
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
		// Top left stays clear: every curve starts low on the left and
		// ends high on the right.
		p.Legend.Top, p.Legend.Left = true, true
		p.Legend.XOffs = vg.Points(10)
		var args []any
		for _, impl := range implOrder(byImpl) {
			args = append(args, impl, cdfPoints(byImpl[impl]))
		}
		if err := plotutil.AddLines(p, args...); err != nil {
			return files, err
		}
		name := "latency-cdf-" + strings.NewReplacer(" ", "", "@", "", "%", "pct").Replace(w)
		if err := save(p, name, 7*vg.Inch, 4.5*vg.Inch); err != nil {
			return files, err
		}
	}
	// Throughput bars: one panel per figure, one bar per server.
	bars := []struct{ workload, metric, title string }{
		{"keepalive", "requests/s", "keep-alive requests/s"},
		{"close", "connections/s", "Connection: close, connections/s"},
		{"keepalive", "cpu/request", "server CPU ns per keep-alive request"},
		{"bulk", "Gbit/s", "bulk, one connection, Gbit/s"},
	}
	for _, b := range bars {
		var names []string
		var vals plotter.Values
		for _, r := range rep.Results {
			if r.Workload == b.workload && r.Metric == b.metric {
				names = append(names, r.Impl)
				vals = append(vals, r.Value)
			}
		}
		if len(vals) == 0 {
			continue
		}
		p := plot.New()
		p.Title.Text = b.title
		bc, err := plotter.NewBarChart(vals, vg.Points(40))
		if err != nil {
			return files, err
		}
		bc.Color = color.RGBA{R: 0x33, G: 0x66, B: 0x99, A: 0xff}
		p.Add(bc)
		p.NominalX(names...)
		name := "bars-" + b.workload + "-" + strings.NewReplacer("/", "-per-").Replace(b.metric)
		if err := save(p, name, 7*vg.Inch, 4*vg.Inch); err != nil {
			return files, err
		}
	}
	return files, nil
}

// implOrder lists the servers in httpServers' order, then any others.
func implOrder(m map[string]*hdrhistogram.Histogram) []string {
	var out []string
	for _, s := range httpServers {
		if m[s.name] != nil {
			out = append(out, s.name)
		}
	}
	for k := range m {
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

// cdfPoints samples a histogram's CDF at quantiles spaced evenly on
// 1/(1-q) up to 99.99%, where the tail lives, in µs.
func cdfPoints(h *hdrhistogram.Histogram) plotter.XYs {
	var pts plotter.XYs
	for i := 0; i <= 200; i++ {
		q := 1 - math.Pow(10, -4*float64(i)/200) // 0 .. 0.9999
		v := float64(h.ValueAtQuantile(q*100)) / 1e3
		if v <= 0 {
			v = 0.001
		}
		pts = append(pts, plotter.XY{X: v, Y: q})
	}
	return pts
}
