package main

// The proxy workload: a reverse proxy in front of a kernel net/http
// upstream, keep-alive GET / through it, in the same run:
//
//	sluice proxy           examples/proxy on sluice (L4: accepts on sluice,
//	                       dials the upstream from the accepting loop,
//	                       relays bytes with backpressure)
//	httputil.ReverseProxy  net/http's L7 reverse proxy on kernel TCP, a
//	                       pooled upstream Transport
//
// Each proxy is a child pinned to the server CPU (its CPU time per request
// is the figure to compare); the load generator's thread is pinned to the
// client CPU in the peer namespace; the upstream (the same net/http
// handler as the other HTTP workloads, 13-octet body) runs in this
// process in the peer namespace, unpinned. The two proxies differ in kind
// as well as in stack: an L4 relay parses nothing, ReverseProxy parses
// and rewrites each request and response. That is the comparison the
// issue asks for (what a Go user would otherwise deploy).

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"

	"github.com/sluicenet/sluice/bench/loadgen"
	"github.com/sluicenet/sluice/examples/proxy/proxy"
	"github.com/sluicenet/sluice/testbed"
)

// envUpstream is the upstream "host:port" of the proxy children.
const envUpstream = "SLUICE_BENCH_UPSTREAM"

var proxyServers = []httpServer{
	{name: "sluice proxy", kind: "proxy-sluice", procs: 2},
	{name: "httputil.ReverseProxy", kind: "proxy-httputil", procs: 1},
}

// Registered during variable initialisation: serve_child's init may run
// a child before this file's init (see tls.go).
var _ = func() bool {
	serveFuncs["proxy-sluice"] = serveProxySluice
	serveFuncs["proxy-httputil"] = serveProxyHTTPUtil
	return true
}()

func init() {
	workloads["proxy"] = proxyWorkload
	defaultWorkloads = append(defaultWorkloads, "proxy")
	ratioPairs = append(ratioPairs, [2]string{"sluice proxy", "httputil.ReverseProxy"})
}

func serveProxySluice(addr, link string, ready func(string), stop <-chan struct{}) error {
	cfg, err := sluiceConfig(addr, link)
	if err != nil {
		return err
	}
	s, err := proxy.New(proxy.Config{Sluice: cfg, Upstream: os.Getenv(envUpstream)})
	if err != nil {
		return err
	}
	return serveUntil(s, s.Sluice(), addr, ready, stop)
}

func serveProxyHTTPUtil(addr, _ string, ready func(string), stop <-chan struct{}) error {
	target, err := url.Parse("http://" + os.Getenv(envUpstream))
	if err != nil {
		return err
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	// Enough idle upstream connections for every client connection: the
	// default 2 per host would make it dial per request.
	rp.Transport = &http.Transport{MaxIdleConns: 4096, MaxIdleConnsPerHost: 4096}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: rp}
	if stop != nil {
		go func() {
			<-stop
			srv.Close()
		}()
	}
	ready(addr)
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}

func proxyWorkload(c config) ([]Result, error) {
	f := &figures{workload: "proxy"}
	bed, err := testbed.Create(testbed.Options{Queues: 1})
	if err != nil {
		return nil, err
	}
	defer bed.Close()
	widenPortRange(bed.Peer)
	// The upstream: net/http on kernel TCP in the peer namespace.
	var ln net.Listener
	if err := bed.Peer.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", net.JoinHostPort(bed.Peer.IPv4.String(), "0"))
		return err
	}); err != nil {
		return nil, err
	}
	stop := make(chan struct{})
	served := make(chan error, 1)
	go func() { served <- serveHTTPOn(ln, func(string) {}, stop) }()
	defer func() {
		close(stop)
		<-served
	}()
	os.Setenv(envUpstream, ln.Addr().String()) // the children inherit it
	defer os.Unsetenv(envUpstream)
	for range c.runs {
		for _, s := range proxyServers {
			progressStep("proxy", s.name)
			srv, err := startServer(bed, s, c.serverCPU)
			if err != nil {
				return nil, err
			}
			m, err := measureHTTP(c, bed, srv, loadgen.Config{Mode: loadgen.KeepAlive, Conns: c.conns, WantLength: helloLength})
			srv.stop()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", s.name, err)
			}
			f.add(s.name, "requests/s", "req/s", higher, m.res.PerSecond(m.res.Requests)).Note = "keep-alive GET / through the proxy to net/http"
			f.add(s.name, "cpu/request", "ns", lower, m.perOp()).Note = "proxy process utime+stime / requests"
			f.addBusy(s.name, m)
			f.add(s.name, "p50", "µs", lower, m.quantileUS(50))
			f.add(s.name, "p99", "µs", lower, m.quantileUS(99))
			f.errors(s.name, m)
		}
	}
	return f.results(), nil
}
