package server

import (
	"context"
	"crypto/tls"
	"net/http"
	"sync"
	"time"

	"github.com/sluicenet/sluice"
	"github.com/sluicenet/sluice/examples/httpd/http1"
)

// Config is an httpd server: where sluice serves, what it answers, and
// which of the two ways.
type Config struct {
	// Sluice is the transport: interface, namespace, listen addresses,
	// loops and cores.
	Sluice sluice.Config
	// Options are the resources and limits.
	Options Options
	// Stdlib serves HTTPHandler with net/http through sluice's
	// net.Listener adapter instead of the callback Handler.
	Stdlib bool
	// TLS, when set, serves HTTPS: crypto/tls over sluice's Listener
	// adapter, and net/http on it with HTTP/2 and HTTP/1.1 offered by ALPN
	// (RFC 7301). It implies Stdlib: the callback API carries no TLS.
	// The config needs Certificates (or GetCertificate); NextProtos is
	// filled in when empty.
	TLS *tls.Config
	// DrainDelay is how long Shutdown keeps serving, new connections
	// included, after HealthPath turns 503 and before it stops accepting:
	// time for a load balancer's health checks to see the server go and
	// send new flows elsewhere (a few check intervals). Zero: no delay.
	DrainDelay time.Duration
}

// Server is a running httpd: a sluice server and, in Stdlib mode, the
// net/http server on its Listener.
type Server struct {
	srv       *sluice.Server
	hs        *http.Server
	h         *Handler
	health    *Health
	tls       bool
	drain     time.Duration
	serveCh   chan error
	serveOnce sync.Once
}

// New checks cfg and returns a server that Start will run.
func New(cfg Config) (*Server, error) {
	if cfg.Options.Health == nil {
		cfg.Options.Health = new(Health)
	}
	s := &Server{health: cfg.Options.Health, drain: cfg.DrainDelay, tls: cfg.TLS != nil}
	var h sluice.Handler
	if cfg.Stdlib || cfg.TLS != nil {
		// The same head bound as the callback parser's (net/http adds
		// 4 KiB of slack to it).
		lim := http1.NewParser(cfg.Options.Limits).Limits()
		// net/http has the head and idle bounds; its ReadTimeout and
		// WriteTimeout bound a whole request or response rather than
		// progress, so Body and Write have no counterpart here.
		to := cfg.Options.Timeouts.withDefaults()
		s.hs = &http.Server{Handler: HTTPHandler(cfg.Options), MaxHeaderBytes: lim.MaxHeaderBytes,
			ReadHeaderTimeout: to.Head, IdleTimeout: to.Idle}
		if cfg.TLS != nil {
			// ServeTLS adds "h2" and "http/1.1" to NextProtos and
			// configures net/http's HTTP/2 server on a clone.
			s.hs.TLSConfig = cfg.TLS
		}
	} else {
		s.h = NewHandler(cfg.Options)
		h = s.h
	}
	srv, err := sluice.NewServer(cfg.Sluice, h)
	if err != nil {
		return nil, err
	}
	s.srv = srv
	return s, nil
}

// Start starts serving (sluice.Server.Start, then net/http in Stdlib
// mode).
func (s *Server) Start() error {
	if err := s.srv.Start(); err != nil {
		return err
	}
	if s.hs != nil {
		s.serveCh = make(chan error, 1)
		ln := s.srv.Listener()
		if s.tls {
			go func() { s.serveCh <- s.hs.ServeTLS(ln, "", "") }()
		} else {
			go func() { s.serveCh <- s.hs.Serve(ln) }()
		}
	}
	return nil
}

// Sluice is the transport underneath (Info, Stats, Done).
func (s *Server) Sluice() *sluice.Server { return s.srv }

// Handler is the callback handler (nil in Stdlib mode).
func (s *Server) Handler() *Handler { return s.h }

// Stats are the callback handler's counters (timeouts, per-source
// refusals); nil in Stdlib mode.
func (s *Server) Stats() *Stats {
	if s.h == nil {
		return nil
	}
	return s.h.Stats()
}

// Health is what HealthPath reports.
func (s *Server) Health() *Health { return s.health }

// Done is closed when the server has stopped.
func (s *Server) Done() <-chan struct{} { return s.srv.Done() }

// Shutdown stops gracefully: HealthPath turns 503 and, for DrainDelay
// (bounded by ctx), everything is still served; then no new connections,
// requests in flight answered, idle connections closed; at ctx's deadline
// the rest is reset.
func (s *Server) Shutdown(ctx context.Context) error {
	s.health.SetDown()
	if s.drain > 0 {
		t := time.NewTimer(s.drain)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	if s.hs == nil {
		return s.srv.Shutdown(ctx)
	}
	// net/http's first: it closes the Listener (no more Accepts), its
	// idle connections, and waits for the active ones to finish their
	// responses. Then sluice's, with no connection left. (Running them
	// together is safe too: sluice's drain FIN waits for a Read with no
	// Write under way; this order just lets net/http close its own idle
	// connections first.)
	errHTTP := s.hs.Shutdown(ctx)
	err := s.srv.Shutdown(ctx)
	s.waitServe()
	if err == nil {
		err = errHTTP
	}
	return err
}

// Close stops at once, resetting open connections.
func (s *Server) Close() error {
	if s.hs != nil {
		s.hs.Close()
	}
	err := s.srv.Close()
	s.waitServe()
	return err
}

// waitServe waits for net/http's Serve to return (it does once the
// listener closes: http.ErrServerClosed or net.ErrClosed, the normal ends).
func (s *Server) waitServe() {
	if s.serveCh != nil {
		s.serveOnce.Do(func() { <-s.serveCh })
	}
}

// Run serves cfg until ctx ends, then shuts down within
// cfg.Sluice.ShutdownTimeout (sluice's default when zero).
func Run(ctx context.Context, cfg Config) error {
	s, err := New(cfg)
	if err != nil {
		return err
	}
	if err := s.Start(); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-s.Done():
		return s.Close()
	}
	timeout := cfg.Sluice.ShutdownTimeout
	if timeout == 0 {
		timeout = sluice.DefaultShutdownTimeout
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return s.Shutdown(sctx)
}
