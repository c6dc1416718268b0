// Command httpd is an HTTP/1.1 server on sluice: AF_XDP frames, sluice's own
// TCP, and examples/httpd/server's parser and responses on the callback API
// (or, with -stdlib, net/http through sluice's net.Listener adapter).
//
//	sudo httpd -iface eth0 -listen 192.0.2.1:8080,[2001:db8::1]:8080 -size 64
//
// GET / answers -size octets; GET /size/N answers N (see package server).
// SIGINT or SIGTERM shuts down gracefully: requests in flight are answered,
// then the program detaches from the device and exits.
package main

import (
	"crypto/tls"
	"errors"
	"expvar"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/sluicenet/sluice"
	"github.com/sluicenet/sluice/examples/httpd/http1"
	"github.com/sluicenet/sluice/examples/httpd/server"
	"github.com/sluicenet/sluice/examples/internal/cli"
)

// listFlag is a flag that may be repeated and takes comma lists.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

func main() {
	err := run(os.Args[1:])
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.As(err, new(usageError)):
		fmt.Fprintln(os.Stderr, "httpd:", err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "httpd:", err)
		os.Exit(1)
	}
}

// usageError is a bad command line (exit status 2, as flag's own).
type usageError struct{ error }

func run(args []string) error {
	fs := flag.NewFlagSet("httpd", flag.ContinueOnError)
	var listen listFlag
	iface := fs.String("iface", "", "network `device` to serve on (required)")
	netns := fs.String("netns", "", "named network `namespace` the device is in (ip netns)")
	fs.Var(&listen, "listen", "`ip:port` to serve (repeatable or comma list; :port for every address of the device)")
	queues := fs.Int("queues", 0, "event loops, one per RX queue (0: every queue of the device)")
	cores := fs.String("cores", "", "comma list of `CPUs` to pin loops to (-1: unpinned; empty: loop i on CPU i)")
	size := fs.Int64("size", server.DefaultSize, "body `octets` of GET /")
	maxSize := fs.Int64("max-size", server.DefaultMaxSize, "largest N of GET /size/N")
	maxBody := fs.Int64("max-body", 0, "largest request body in `octets` (413 beyond; 0: no limit, bodies are read and dropped)")
	stdlib := fs.Bool("stdlib", false, "serve net/http through sluice's net.Listener adapter instead of the callback API")
	shutdown := fs.Duration("shutdown-timeout", 5*time.Second, "graceful shutdown bound on SIGINT/SIGTERM (drain delay included)")
	drain := fs.Duration("drain-delay", 0, "on SIGINT/SIGTERM, answer "+server.HealthPath+" with 503 and keep serving this long before refusing new connections")
	certFile := fs.String("tls-cert", "", "PEM certificate `file` (chain): serve HTTPS, HTTP/2 and HTTP/1.1, through net/http on the Listener adapter")
	keyFile := fs.String("tls-key", "", "PEM private key `file` of -tls-cert")
	headTO := fs.Duration("head-timeout", server.DefaultHeadTimeout, "bound on a request head from its first octet, and on a new connection's first request: 408 (0: none)")
	bodyTO := fs.Duration("body-timeout", server.DefaultBodyTimeout, "bound on the wait for more of a request body: 408 (0: none)")
	idleTO := fs.Duration("idle-timeout", server.DefaultIdleTimeout, "bound on a keep-alive connection between requests: closed (0: none)")
	writeTO := fs.Duration("write-timeout", server.DefaultWriteTimeout, "bound on the wait for a client to take more of a response: reset (0: none)")
	perSource := fs.Int("max-conns-per-source", 0, "open connections allowed from one client address; beyond, 503 and close (0: no bound)")
	debugAddr := fs.String("debug-addr", "", "`ip:port` on kernel TCP serving expvar counters at /debug/vars (e.g. 127.0.0.1:6060)")
	congestion := fs.String("congestion", "", "congestion `control`: cubic, newreno or bbr (empty: sluice's default, cubic)")
	pacing := fs.Bool("pacing", false, "pace CUBIC and NewReno at Linux's window rate (BBR always paces)")
	busyPoll := fs.Duration("busy-poll", 0, "how long an idle loop polls its rings before it sleeps (0: sluice's default, 50µs; negative: sleep at once)")
	sockBusyPoll := fs.Duration("socket-busy-poll", 0, "SO_BUSY_POLL with SO_PREFER_BUSY_POLL on each AF_XDP socket: the loop runs the queue's NAPI itself for up to this long (0: off)")
	verbose := fs.Bool("v", false, "log start-up and shutdown")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	if len(listen) == 0 {
		listen = listFlag{":8080"}
	}
	cfg := server.Config{
		Sluice: sluice.Config{
			Interface:       *iface,
			Netns:           *netns,
			Listen:          listen,
			Loops:           *queues,
			ShutdownTimeout: *shutdown,
			Congestion:      *congestion,
			Pacing:          *pacing,
			BusyPoll:        *busyPoll,
			SocketBusyPoll:  *sockBusyPoll,
		},
		Options: server.Options{Size: *size, MaxSize: *maxSize, Limits: http1.Limits{MaxBodyBytes: *maxBody},
			Timeouts:          server.Timeouts{Head: flagTimeout(*headTO), Body: flagTimeout(*bodyTO), Idle: flagTimeout(*idleTO), Write: flagTimeout(*writeTO)},
			MaxConnsPerSource: *perSource},
		Stdlib:     *stdlib,
		DrainDelay: *drain,
	}
	if (*certFile == "") != (*keyFile == "") {
		return usageError{errors.New("-tls-cert and -tls-key go together")}
	}
	if *certFile != "" {
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			return err
		}
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if *size == 0 {
		cfg.Options.Size = -1 // Options' zero means the default; -size 0 means empty
	}
	var err error
	if cfg.Sluice.Cores, err = cli.Cores(*cores); err != nil {
		return usageError{err}
	}
	cfg.Sluice.Logger = cli.Logger(*verbose)

	sig, stop := cli.Signals()
	defer stop()
	s, err := server.New(cfg)
	if err != nil {
		return err
	}
	if err := s.Start(); err != nil {
		return err
	}
	info := s.Sluice().Info()
	mode := "callbacks"
	switch {
	case cfg.TLS != nil:
		mode = "HTTPS (h2, http/1.1): net/http and crypto/tls on Listener"
	case *stdlib:
		mode = "net/http on Listener"
	}
	if *debugAddr != "" {
		if err := serveDebug(*debugAddr, s); err != nil {
			s.Close()
			return err
		}
	}
	fmt.Printf("httpd: serving %v on %s (%s, %s, %d loops, %s)\n", info.Listen, info.Interface, info.XDPMode, info.Bind, info.Loops, mode)
	_, err = cli.Wait(sig, s, *shutdown)
	return err
}

// flagTimeout maps a timeout flag (0: none) to Timeouts' convention
// (0: default, negative: none).
func flagTimeout(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}

// serveDebug publishes the server's counters with expvar ("httpd": the
// handler's timeouts and refusals; "sluice": the transport's Stats) and
// serves them on kernel TCP at addr.
func serveDebug(addr string, s *server.Server) error {
	expvar.Publish("httpd", expvar.Func(func() any {
		st := s.Stats()
		if st == nil {
			return nil
		}
		return map[string]uint64{
			"head_timeouts": st.HeadTimeouts.Load(), "body_timeouts": st.BodyTimeouts.Load(),
			"idle_timeouts": st.IdleTimeouts.Load(), "write_timeouts": st.WriteTimeouts.Load(),
			"linger_timeouts": st.LingerTimeouts.Load(), "source_limited": st.SourceLimited.Load(),
		}
	}))
	expvar.Publish("sluice", expvar.Func(func() any {
		st, err := s.Sluice().Stats()
		if err != nil {
			return err.Error()
		}
		return st
	}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("-debug-addr: %w", err)
	}
	go http.Serve(ln, nil) // expvar's handler is on DefaultServeMux
	return nil
}
