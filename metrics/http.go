package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluicenet/sluice"
)

// Paths served by Handler.
const (
	PathMetrics  = "/metrics"  // Prometheus text exposition
	PathSnapshot = "/snapshot" // JSON Snapshot; ?conns=N lists up to N connections (a ConnLister source)
)

// Options shape the HTTP endpoint.
type Options struct {
	// Runtime adds the Go runtime and process collectors to /metrics.
	Runtime bool
}

// Handler serves PathMetrics and PathSnapshot for src. Its registry is its
// own (not prometheus.DefaultRegisterer), so two groups in one process
// never collide.
func Handler(src Source, o Options) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(src))
	if o.Runtime {
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	mux := http.NewServeMux()
	mux.Handle(PathMetrics, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc(PathSnapshot, func(w http.ResponseWriter, r *http.Request) {
		s, err := Take(src)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		if lister, ok := src.(ConnLister); ok && r.URL.Query().Get("conns") != "" {
			v := r.URL.Query().Get("conns")
			n, err := strconv.Atoi(v)
			if err != nil {
				http.Error(w, "conns: want a number", http.StatusBadRequest)
				return
			}
			if s.Conns, err = lister.Conns(n); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
			if s.Conns == nil {
				s.Conns = []sluice.ConnInfo{}
			}
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", " ")
		enc.Encode(s)
	})
	return mux
}

// Server is a running HTTP endpoint.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	done chan error
}

// Serve listens on addr (e.g. "127.0.0.1:9101"; port 0 picks one) and
// serves Handler(src, o) until Close. Bind it to loopback or a management
// network: the snapshot names every peer address.
func Serve(addr string, src Source, o Options) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{
		srv:  &http.Server{Handler: Handler(src, o), ReadHeaderTimeout: 5 * time.Second},
		ln:   ln,
		done: make(chan error, 1),
	}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// Addr is the address the endpoint listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// URL is the endpoint's base URL.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Close stops the endpoint and waits for its goroutine.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if serr := <-s.done; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
