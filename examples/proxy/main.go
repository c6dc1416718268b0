// Command proxy is a TCP reverse proxy on sluice: it accepts on sluice's
// callback API and relays each connection to an upstream dialed from the
// same server, with backpressure both ways (see package proxy).
//
//	sudo proxy -iface eth0 -listen 192.0.2.1:80 -upstream 10.0.0.5:8080
//
// SIGINT or SIGTERM stops accepting and lets open connections finish
// within -shutdown-timeout.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/sluicenet/sluice"
	"github.com/sluicenet/sluice/examples/internal/cli"
	"github.com/sluicenet/sluice/examples/proxy/proxy"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "proxy:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("proxy", flag.ContinueOnError)
	iface := fs.String("iface", "", "network `device` to serve on (required)")
	netns := fs.String("netns", "", "named network `namespace` the device is in")
	listen := fs.String("listen", ":8080", "comma list of `ip:port` to accept on (:port for every address of the device)")
	upstream := fs.String("upstream", "", "`host:port` to relay each connection to (required; reached through -iface)")
	queues := fs.Int("queues", 0, "event loops, one per RX queue (0: every queue)")
	cores := fs.String("cores", "", "comma list of `CPUs` to pin loops to (-1: unpinned)")
	dialTimeout := fs.Duration("dial-timeout", proxy.DefaultDialTimeout, "bound on each upstream handshake")
	shutdown := fs.Duration("shutdown-timeout", 30*time.Second, "how long open connections may finish on SIGINT/SIGTERM")
	verbose := fs.Bool("v", false, "log start-up and shutdown")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *upstream == "" {
		return errors.New("-upstream is required")
	}
	cfg := proxy.Config{
		Sluice: sluice.Config{
			Interface:       *iface,
			Netns:           *netns,
			Listen:          strings.Split(*listen, ","),
			Loops:           *queues,
			ShutdownTimeout: *shutdown,
		},
		Upstream:    *upstream,
		DialTimeout: *dialTimeout,
	}
	var err error
	if cfg.Sluice.Cores, err = cli.Cores(*cores); err != nil {
		return err
	}
	cfg.Sluice.Logger = cli.Logger(*verbose)
	sig, stop := cli.Signals()
	defer stop()
	s, err := proxy.New(cfg)
	if err != nil {
		return err
	}
	if err := s.Start(); err != nil {
		return err
	}
	info := s.Sluice().Info()
	fmt.Printf("proxy: %v on %s -> %s (%s, %s, %d loops)\n", info.Listen, info.Interface, *upstream, info.XDPMode, info.Bind, info.Loops)
	graceful, err := cli.Wait(sig, s, *shutdown)
	if !graceful {
		return err
	}
	st := s.Stats()
	slog.Info("proxy stopped", "accepted", st.Accepted.Load(), "dialed", st.Dialed.Load(),
		"dial_errors", st.DialErrors.Load(), "pauses", st.Pauses.Load(), "aborts", st.Aborts.Load())
	return err
}
