package main

// The idle workload against sluice's servers: connections opened by the
// raw-frame generator (bench/conngen, Config.Idle) and counted by the
// server itself.

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sluicenet/sluice/bench/conngen"
	"github.com/sluicenet/sluice/testbed"
)

const (
	// idleSettle: opening is over once the server's ESTABLISHED count
	// has not grown for this long (or it reached -idle-conns).
	idleSettle = 3 * time.Second
	// idleOpenMax bounds the opening. sluice-httpd closes a connection
	// whose request head has not come within its head timeout (20 s by
	// default, examples/httpd Timeouts.Head), so its connections are
	// measured before the first of them expires.
	idleOpenMax     = 5 * time.Minute
	idleOpenMaxHTTP = 12 * time.Second
)

func measureIdleRaw(c config, bed *testbed.Bed, srv *serverProc, f *figures, s httpServer) error {
	rss0, err := idleBaseline(srv)
	if err != nil {
		return err
	}
	est0, err := serverEstablished(srv)
	if err != nil {
		return err
	}
	if err := conngen.Route(bed, rawPrefix); err != nil {
		return err
	}
	cfg := conngen.ConfigFor(bed, srv.addr, rawPrefix)
	cfg.Slots, cfg.FirstTuple, cfg.Limit, cfg.Idle = c.rawSlots, rawNextTuple, uint64(c.idleConns), true
	g, err := conngen.New(cfg)
	if err != nil {
		return err
	}
	xs := make(chan *conngen.XDP, 1)
	begin := time.Now()
	done := onPeerXDP(c, bed, func(x *conngen.XDP) error {
		xs <- x
		return x.Run(g, begin.Add(idleOpenMax+time.Minute)) // Halt ends it first
	})
	var x *conngen.XDP
	select {
	case x = <-xs:
	case err := <-done:
		return fmt.Errorf("raw connection generator: %w", err)
	}
	// The generator holds every connection (answering retransmitted
	// SYN-ACKs) until the figures are read.
	measured := func() error {
		limit := idleOpenMax
		if s.kind == "sluice-httpd" {
			limit = idleOpenMaxHTTP
		}
		est, grewAt := est0, time.Now()
		for time.Since(begin) < limit && est-est0 < int64(c.idleConns) && time.Since(grewAt) < idleSettle {
			select {
			case err := <-done:
				return fmt.Errorf("raw connection generator ended: %v", err)
			case <-srv.done:
				return fmt.Errorf("server exited: %s", srv.stderr)
			case <-time.After(500 * time.Millisecond):
			}
			if r, err := srv.rss(); err == nil && r-rss0 > idleRSSLimit {
				return fmt.Errorf("server RSS grew past %d MiB while opening idle connections", idleRSSLimit>>20)
			}
			n, err := serverEstablished(srv)
			if err != nil {
				return err
			}
			if n > est {
				est, grewAt = n, time.Now()
			}
		}
		opening := grewAt.Sub(begin)
		if _, err := srv.statsAfterGC(); err != nil {
			return err
		}
		rss1, err := srv.rss()
		if err != nil {
			return fmt.Errorf("server RSS: %w (%s)", err, srv.stderr)
		}
		est1, err := serverEstablished(srv)
		if err != nil {
			return err
		}
		n := est1 - est0
		if n <= 0 {
			return fmt.Errorf("no connection ESTABLISHED on the server (%d before, %d after)", est0, est1)
		}
		r := f.add(s.name, "bytes/idle connection", "B", lower, float64(rss1-rss0)/float64(n))
		r.Note = fmt.Sprintf("server RSS delta / %d connections ESTABLISHED by the server's count; opened by %s (SYN, bare ACK, then nothing)",
			n, rawNote)
		if n < int64(c.idleConns) {
			r.Note += fmt.Sprintf("; %d, not %d: the server's count stopped growing or the opening's %v bound came", n, c.idleConns, limit)
		}
		f.add(s.name, "idle connections", "conns", higher, float64(n))
		f.add(s.name, "server RSS", "MiB", lower, float64(rss1)/(1<<20)).Note = "with the idle connections open"
		f.add(s.name, "idle opening time", "s", "", opening.Seconds()).Note =
			"first SYN to the last growth of the server's ESTABLISHED count"
		return nil
	}
	err = measured()
	x.Halt()
	err = errors.Join(err, <-done)
	rawNextTuple = g.NextTuple()
	if st := g.Stats; err == nil && st.Errors() > 0 {
		f.add(s.name, "idle generator errors", "count", lower, float64(st.Errors())).Note = st.String()
	}
	return err
}

// serverEstablished is a sluice server's own count of its connections
// past the handshake, summed over its loops (from its diag line): those
// in its table (conns) less those still in SYN-RECEIVED (synq). Its
// "established" counts OnOpen calls so far, closed connections included.
func serverEstablished(srv *serverProc) (int64, error) {
	d := srv.diag()
	var n int64
	found := 0
	for _, fld := range strings.Fields(d) {
		k, v, ok := strings.Cut(fld, "=")
		if !ok || (k != "conns" && k != "synq") {
			continue
		}
		x, err := strconv.ParseInt(strings.TrimSuffix(v, ";"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("server diag %q: %w", d, err)
		}
		if k == "synq" {
			x = -x
		}
		n += x
		found++
	}
	if found == 0 || found%2 != 0 {
		return 0, fmt.Errorf("no connection counts in the server's diag: %q", d)
	}
	return n, nil
}
