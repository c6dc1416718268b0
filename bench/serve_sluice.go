package main

// sluice's two servers under test, run in a child process like the others
// (serve_child.go): on the server's link over AF_XDP, one loop pinned to
// the server CPU.
//
//	sluice           the callback API: a handler answering complete request
//	                 heads from OnData, as gnetHello does on gnet
//	sluice-listener  net/http's Server on sluice's net.Listener adapter

import (
	"crypto/tls"
	"fmt"
	"net/netip"
	"os"
	"strconv"

	"github.com/sluicenet/sluice"
	httpd "github.com/sluicenet/sluice/examples/httpd/server"
	"github.com/sluicenet/sluice/tcp"
)

// sluiceConfig is the server both sluice entries run: one loop on the
// server CPU, every other setting at its default (what a user gets).
func sluiceConfig(addr, link string) (sluice.Config, error) {
	if link == "" {
		return sluice.Config{}, fmt.Errorf("sluice needs the server's link (%s)", envLink)
	}
	if _, err := netip.ParseAddrPort(addr); err != nil {
		return sluice.Config{}, err
	}
	cfg := sluice.Config{Interface: link, Listen: []string{addr}, Loops: 1}
	if s := os.Getenv(envNAPIDefer); s != "" {
		var d napiDeferConfig
		if err := d.parse(s); err != nil {
			return cfg, fmt.Errorf("%s: %w", envNAPIDefer, err)
		}
		cfg.NAPIDeferHardIRQs, cfg.NAPIFlushTimeout = d.deferIRQs, d.flush
	}
	if s := os.Getenv(envCPU); s != "" {
		cpu, err := strconv.Atoi(s)
		if err != nil {
			return cfg, err
		}
		cfg.Cores = []int{cpu}
	}
	return cfg, nil
}

// sluiceStats makes the child's stats line report srv's TIME-WAIT entries
// and connections.
func sluiceStats(srv *sluice.Server) {
	h := func() (int64, int64, sluiceTW) {
		st, err := srv.Stats()
		if err != nil {
			return -1, -1, sluiceTW{-1, -1, -1, -1}
		}
		var tw int64
		s := sluiceTW{twRefused: int64(st.TimeWaitOverflow), twMax: int64(srv.Info().TimeWaitMax)}
		for _, l := range st.Loops {
			tw += int64(l.TimeWait)
			s.twAll += int64(l.ByState[tcp.TimeWait])
			s.twEntered += int64(l.Entered[tcp.TimeWait])
		}
		return tw, st.Conns, s
	}
	childStatsHook.Store(&h)
	d := func() string { return sluiceDiag(srv.Stats()) }
	childDiagHook.Store(&d)
}

func serveSluice(addr, link string, ready func(string), stop <-chan struct{}) error {
	cfg, err := sluiceConfig(addr, link)
	if err != nil {
		return err
	}
	srv, err := sluice.NewServer(cfg, sluiceHello{})
	if err != nil {
		return err
	}
	return serveUntil(srv, srv, addr, ready, stop)
}

// runner is a server a child runs: sluice's own or one built on it.
type runner interface {
	Start() error
	Close() error
	Done() <-chan struct{}
}

// serveUntil starts s, publishes the counters of sn (the sluice server
// under it), reports ready and serves until stop or until s stops.
func serveUntil(s runner, sn *sluice.Server, addr string, ready func(string), stop <-chan struct{}) error {
	if err := s.Start(); err != nil {
		return err
	}
	defer s.Close()
	sluiceStats(sn)
	ready(addr)
	select {
	case <-stop:
	case <-s.Done():
	}
	return nil
}

func serveSluiceListener(addr, link string, ready func(string), stop <-chan struct{}) error {
	return serveSluiceHTTP(addr, link, nil, ready, stop)
}

// serveSluiceHTTP serves net/http on sluice's Listener, through crypto/tls
// when tc is set (sluice-tls).
func serveSluiceHTTP(addr, link string, tc *tls.Config, ready func(string), stop <-chan struct{}) error {
	cfg, err := sluiceConfig(addr, link)
	if err != nil {
		return err
	}
	srv, err := sluice.NewServer(cfg, nil)
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	defer srv.Close()
	sluiceStats(srv)
	ln := srv.Listener()
	if tc != nil {
		ln = tls.NewListener(ln, tc)
	}
	return serveHTTPOn(ln, ready, stop)
}

// sluiceHello answers every complete request head, as gnetHello does. OnData's
// bytes are valid only during the call, so a partial head (rare: requests
// are small and arrive in one segment) is copied into the connection's
// pending buffer, made on first need and kept for the connection's life.
type sluiceHello struct{ sluice.NopHandler }

type sluicePending struct{ buf []byte }

// sluiceRespond sends response b on c: lent when it is large (the
// responses of sizedResponses never change, so sluice segments them in
// place), written otherwise.
func sluiceRespond(c *sluice.Conn, b []byte) {
	if len(b) >= lendFrom {
		c.Lend(b, nil)
		return
	}
	c.Write(b)
}

// lendFrom is the response length from which sluice-raw lends rather
// than writes: as examples/httpd lends bodies of 16 KiB and more.
const lendFrom = 16 << 10

func (sluiceHello) OnData(c *sluice.Conn, data []byte) sluice.Action {
	p, _ := c.Context().(*sluicePending)
	if p != nil && len(p.buf) > 0 {
		p.buf = append(p.buf, data...)
		data = p.buf
	}
	used, closeAfter := respondAll(data, func(b []byte) { sluiceRespond(c, b) })
	if closeAfter {
		return sluice.Close
	}
	rest := data[used:]
	switch {
	case len(rest) > 8<<10:
		return sluice.Close // a head this long is not one of ours
	case len(rest) == 0:
		if p != nil {
			p.buf = p.buf[:0]
		}
	case p == nil:
		c.SetContext(&sluicePending{buf: append([]byte(nil), rest...)})
	default:
		p.buf = append(p.buf[:0], rest...) // copy within p.buf: append handles overlap left to right
	}
	return sluice.None
}

// serveSluiceHTTPD runs examples/httpd's server on the callback API: a
// real HTTP/1.1 server (parser, pipelining, backpressure), configured to
// answer "/" with 13 octets and to send no Server field.
func serveSluiceHTTPD(addr, link string, ready func(string), stop <-chan struct{}) error {
	cfg, err := sluiceConfig(addr, link)
	if err != nil {
		return err
	}
	srv, err := httpd.New(httpd.Config{Sluice: cfg, Options: httpd.Options{Size: int64(len(helloBody)), ServerName: "-"}})
	if err != nil {
		return err
	}
	return serveUntil(srv, srv.Sluice(), addr, ready, stop)
}
